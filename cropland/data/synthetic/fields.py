"""The pieces of land in a patch: the point's field, its verge and two neighbours, and where
each lies.

Each class has a monthly phenology (:mod:`covers`). A field shifts that curve in time (planting
date), scales it (vigour) and has its own soil brightness. At any single month several classes
look alike (cereals vs potato in July, corn vs soybean vs canola in August, everything
harvested in October); only the trajectory tells them apart. The field does not fill the
patch: a rotated rectangle with a grass verge, and the rest split between two neighbouring
fields of random classes that follow their own phenology.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cropland.data.layout import IMAGE_SIZE, MONTHS
from cropland.data.synthetic.character import Character
from cropland.data.synthetic.covers import (
    MEAN_PHENOLOGY,
    PHENOLOGY,
    VERGE_PHENOLOGY,
    phenology_table,
)
from cropland.data.synthetic.texture import texture

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
    character: Character,
) -> Field:
    """A field of ``crop``, its season moved by ``province_shift`` months and its own jitter."""
    s = character.separability
    return Field(
        phenology=s * phenology_table(PHENOLOGY[crop]) + (1 - s) * MEAN_PHENOLOGY,
        shift=float(np.clip(rng.normal(0, 0.3), -0.8, 0.8)) + province_shift,
        vigour=rng.uniform(0.8, 1.1),
        dryness=rng.uniform(0.8, 1.2),
        texture=texture(crop, rng, across_rows, character.noise),
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


def patch_layout(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weights (field, verge, neighbour A, neighbour B) per pixel, and the across-row coordinate.

    The field is a rotated rectangle near the centre (38% of the patch to all of it), ringed by a
    verge one or two pixels wide; a line through the field splits the rest between two neighbours.
    """
    y, x = np.meshgrid(PIXEL_FROM_CENTRE, PIXEL_FROM_CENTRE, indexing="ij")
    cx, cy = rng.uniform(-8, 8, size=2)
    angle = rng.uniform(0, np.pi)
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    half_u, half_v = rng.uniform(20, 45, size=2)
    field = _soft_box(u, v, half_u, half_v)
    verge_width = rng.uniform(1.0, 2.0)
    verge = _soft_box(u, v, half_u + verge_width, half_v + verge_width) - field
    split = rng.uniform(0, 2 * np.pi)
    side = np.clip(0.5 + (x - cx) * np.cos(split) + (y - cy) * np.sin(split), 0, 1)
    outside = 1 - field - verge
    return np.stack([field, verge, outside * side, outside * (1 - side)]), u
