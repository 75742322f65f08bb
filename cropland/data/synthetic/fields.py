"""The pieces of land in a patch: the point's field, its verge and its neighbours, and where
each lies.

Each class has a monthly phenology (:mod:`covers`). A field shifts that curve in time (planting
date), scales it (vigour) and has its own soil brightness. At any single month several classes
look alike (cereals vs potato in July, corn vs soybean vs canola in August, everything
harvested in October); only the trajectory tells them apart. The field does not fill the
patch: a rotated rectangle (its edges maybe wobbling) with a grass verge, and the rest split
between neighbouring fields of random classes that follow their own phenology (two in the
tuned generator; :class:`GeneratorSettings` says how many, how large, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cropland.data.layout import IMAGE_SIZE, MONTHS
from cropland.data.synthetic.covers import VERGE_PHENOLOGY, phenology_table
from cropland.data.synthetic.settings import GeneratorSettings
from cropland.data.synthetic.texture import smooth_noise, texture

# Pixel coordinates along either axis, counted from the patch centre.
PIXEL_FROM_CENTRE = np.arange(IMAGE_SIZE) - IMAGE_SIZE // 2


@dataclass
class Field:
    """One piece of land in a patch: a phenology on its own schedule, with its own texture."""

    phenology: np.ndarray  # (covers, months)
    shift: float  # months later (positive) or earlier than the class's average field
    vigour: float
    dryness: float
    texture: np.ndarray  # (covers, H, W)

    def fractions(self, month: float, rng: np.random.Generator) -> np.ndarray:
        """Share of each cover per pixel, (covers, H, W); soil is what they leave."""
        shares = np.array([np.interp(month - self.shift, MONTHS, row) for row in self.phenology])
        weather = 1 + 0.06 * rng.standard_normal()  # a dry or a wet month
        # In COVERS order: vigour and weather act on the crop canopy, not on conifers.
        shares *= np.array([self.vigour * weather, self.dryness, self.vigour, 1.0, 1.0])
        cover = shares[:, None, None] * self.texture
        return cover / np.maximum(cover.sum(axis=0), 1.0)


def crop_field(
    crop: str,
    rng: np.random.Generator,
    across_rows: np.ndarray,
    province_shift: float,
    settings: GeneratorSettings,
) -> Field:
    """A field of ``crop``, its season moved by ``province_shift`` months and its own jitter."""
    return Field(
        phenology=settings.phenology_tables[crop],
        shift=float(np.clip(rng.normal(0, 0.3), -0.8, 0.8)) + province_shift,
        vigour=rng.uniform(0.8, 1.1),
        dryness=rng.uniform(0.8, 1.2),
        texture=texture(crop, rng, across_rows, settings.texture_strength),
    )


def verge_field(rng: np.random.Generator, across_rows: np.ndarray, noise: float) -> Field:
    """The grass verge around the point's field; the same all season."""
    return Field(
        phenology=phenology_table(VERGE_PHENOLOGY),
        shift=0.0,
        vigour=rng.uniform(0.7, 1.1),
        dryness=1.0,
        texture=texture("VERGE", rng, across_rows, noise),
    )


def _soft_box(u: np.ndarray, v: np.ndarray, half_u: float, half_v: float) -> np.ndarray:
    """1 inside the rectangle, 0 outside, a linear ramp over the pixel that its edge crosses."""
    return np.clip(half_u + 0.5 - np.abs(u), 0, 1) * np.clip(half_v + 0.5 - np.abs(v), 0, 1)


def _side_of(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1 on one side of a random line through (``x``, ``y``) = 0, 0 on the other, soft across."""
    split = rng.uniform(0, 2 * np.pi)
    return np.clip(0.5 + x * np.cos(split) + y * np.sin(split), 0, 1)


# How far inside its field's edge the point lies at least, in pixels (30 m), beyond the edge's
# wobble: the label is the field at the point.
POINT_INSIDE_MARGIN = 3.0


def _point_inside(
    cx: float, cy: float, angle: float, half_u: float, half_v: float, wobble: float
) -> tuple[float, float]:
    """The field's centre moved toward the patch centre, only as far as needed for the patch
    centre (the labelled point) to lie inside the field, clear of its wobbling edge."""
    u0 = -(cx * np.cos(angle) + cy * np.sin(angle))
    v0 = cx * np.sin(angle) - cy * np.cos(angle)
    margin = POINT_INSIDE_MARGIN + 2 * wobble  # smooth_noise has unit std: two of them
    scale = 1.0
    for centre, half in ((abs(u0), half_u), (abs(v0), half_v)):
        if centre > half - margin:
            scale = min(scale, max(half - margin, 0.0) / centre)
    return cx * scale, cy * scale


def patch_layout(
    rng: np.random.Generator, settings: GeneratorSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (field, verge, neighbours...) per pixel, and the across-row coordinate.

    The field is a rotated rectangle near the centre (tuned: 38% of the patch to all of it),
    ringed by a verge one or two pixels wide; lines through the field split the rest between
    the neighbours (tuned: always two). Without neighbours the verge's grass takes the rest.
    """
    counts = settings.neighbour_count_weights
    # A count that is certain draws nothing, so the tuned generator keeps its bytes.
    if 1.0 in counts:
        neighbours = counts.index(1.0)
    else:
        neighbours = int(rng.choice(len(counts), p=np.array(counts) / sum(counts)))
    y, x = np.meshgrid(PIXEL_FROM_CENTRE, PIXEL_FROM_CENTRE, indexing="ij")
    offset = settings.field_centre_offset
    cx, cy = rng.uniform(-offset, offset, size=2)
    angle = rng.uniform(0, np.pi)
    half_u, half_v = rng.uniform(*settings.field_half_size, size=2)
    cx, cy = _point_inside(cx, cy, angle, half_u, half_v, settings.field_edge_wobble)
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    if settings.field_edge_wobble > 0:
        # Smooth offsets of the coordinates bend the straight edges into irregular ones.
        u = u + settings.field_edge_wobble * smooth_noise(rng, 4)
        v = v + settings.field_edge_wobble * smooth_noise(rng, 4)
    field = _soft_box(u, v, half_u, half_v)
    verge_width = rng.uniform(*settings.verge_width)
    verge = _soft_box(u, v, half_u + verge_width, half_v + verge_width) - field
    outside = 1 - field - verge
    if neighbours == 0:
        return np.stack([field, verge + outside]), u
    if neighbours == 1:
        return np.stack([field, verge, outside]), u
    side = _side_of(x - cx, y - cy, rng)
    if neighbours == 2:
        return np.stack([field, verge, outside * side, outside * (1 - side)]), u
    second = _side_of(x - cx, y - cy, rng)
    rest = outside * (1 - side)
    return np.stack([field, verge, outside * side, rest * second, rest * (1 - second)]), u
