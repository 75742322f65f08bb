"""Synthetic Canadian Cropland trees, written in the exact layout of the real 2019 tree.

The real data cannot be downloaded on our machines, so tests and smoke runs use this instead::

    <root>/<SENSOR>/<training|validation|test>/<CLASS>/POINT_<id>_<YYYYMM>_<PROV>_<CROP>_<SENSOR>.png

How an image is made (numbers are tuned so the PNGs look like the real samples in DATASET.md):

* Every pixel is a linear mix of a few land-cover spectra (green canopy, dry straw, canola
  flowers, conifer, autumn leaves, soil) in the Sentinel-2 bands B2, B3, B4, B5, B6, B8. The
  RGB image and all five indices are computed from the same bands, so they agree with each
  other the way real ones do.
* Each class has a monthly phenology (share of each cover in June..October). A field shifts that
  curve in time (planting date), scales it (vigour) and has its own soil brightness. At any
  single month several classes look alike (cereals vs potato in July, corn vs soybean vs canola
  in August, everything harvested in October); only the trajectory tells them apart.
* The field does not fill the patch: a rotated rectangle with a grass verge, and the rest split
  between two neighbouring fields of random classes that follow their own phenology.
* Class textures: smooth vigour patches in crops, patchy pasture, mottled conifer/deciduous
  forest, tree rows in orchards. Then top-of-atmosphere path radiance, occasional haze or
  clouds, sensor noise and 20 m resolution for B5/B6.

Those are the tuned defaults; :class:`Character` (missing months, closer classes, more noise,
a season shifted per province) makes the data harder without changing its layout, and
:data:`HARD` is the ``data=synthetic_hard`` preset.

Writes go to a hidden temporary sibling of ``root`` (``.<root>.cropland-tmp-<pid>``) that is
renamed to ``root`` only once every file is written, so an interrupted run never leaves a
half-written tree where readers look; one left by a killed run is removed by the next.
The tree's summary, and the proof that ``overwrite`` may replace it, is saved beside it.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from rich.console import Console
from rich.progress import Progress

from cropland.data.layout import (
    CLASSES,
    IMAGE_SIZE,
    MONTHS,
    PROVINCES,
    SENSORS,
    SPLIT_FOLDERS,
    PatchName,
    patch_path,
)
from cropland.errors import CroplandError
from cropland.io import remove_stale_temp_files, temp_path_for, write_json_atomic

# ---------------------------------------------------------------------------------------------
# The point table: class, province, split folder and months of every point.

# Proportional to the test supports of the real 2019 split (DATASET.md), in CLASSES order.
_CLASS_WEIGHTS = np.array([36, 66, 55, 32, 67, 51, 47, 67, 104, 7], dtype=float)

# Prairie provinces and Ontario/Quebec hold most Canadian cropland; the Atlantic ones little.
_PROVINCE_WEIGHTS = {
    "AB": 0.17,
    "BC": 0.05,
    "MB": 0.14,
    "NB": 0.03,
    "NL": 0.01,
    "ON": 0.22,
    "PE": 0.03,
    "QC": 0.13,
    "SK": 0.22,
}

_SPLIT_PATTERN = ("training",) * 4 + ("validation",) + ("training",) * 4 + ("test",)

# The month sets DATASET.md lists with their share of points (74% in all).
_COMMON_MONTH_SETS: dict[tuple[int, ...], float] = {
    (6, 7, 8, 9, 10): 0.26,
    (7, 8, 9, 10): 0.12,
    (7, 8, 9): 0.11,
    (8, 9, 10): 0.07,
    (6, 7, 8, 10): 0.06,
    (6, 7, 9, 10): 0.06,
    (7, 8, 10): 0.06,
}
# The other 26% draw each month independently, redrawing empty or listed sets. These
# probabilities were solved numerically so the overall month shares come out at the real
# June 49%, July 83%, August 82%, September 78%, October 77%; then 11% of points hold 1-2 images.
_OTHER_MONTH_PROBABILITY = np.array([0.34, 0.83, 0.83, 0.75, 0.79])


@dataclass(frozen=True)
class Character:
    """What makes the data easy or hard, apart from its seed; the defaults are the tree we
    always wrote, byte for byte.

    * ``cloud_gaps``: probability that each month a point has an image for is lost as well
      (at least one month is kept), on top of the real month sets.
    * ``separability``: each class's cover shares per month are pulled toward the mean of all
      classes, ``s * class + (1 - s) * mean``; 1 is the classes as tuned, smaller is closer.
    * ``noise``: multiplies the per-pixel sensor noise and the amplitude of the class textures.
    * ``phenology_shift``: standard deviation, in months, of a shift of every field's phenology
      drawn once per province (the tree holds one year), so one crop peaks at different times
      in different provinces.
    """

    cloud_gaps: float = 0.0
    separability: float = 1.0
    noise: float = 1.0
    phenology_shift: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "cloud_gaps": (0 <= self.cloud_gaps < 1, "in [0, 1)"),
            "separability": (0 < self.separability <= 1, "in (0, 1]"),
            "noise": (0 <= self.noise < math.inf, "a finite number >= 0"),
            "phenology_shift": (0 <= self.phenology_shift < math.inf, "a finite number >= 0"),
        }
        for key, (ok, allowed) in checks.items():
            if not ok:
                raise CroplandError(f"{key} must be {allowed}, got {getattr(self, key)}")

    def suffix(self) -> str:
        """What a file name adds for this character: nothing for the default, ``_hard`` for
        :data:`HARD`, else every setting that differs from the default (``_gap0.3_noise2``)."""
        if self == Character():
            return ""
        if self == HARD:
            return "_hard"
        tags = {
            "cloud_gaps": "gap",
            "separability": "sep",
            "noise": "noise",
            "phenology_shift": "shift",
        }
        default = Character()
        return "".join(
            f"_{tag}{getattr(self, key):g}"
            for key, tag in tags.items()
            if getattr(self, key) != getattr(default, key)
        )


# conf/data/synthetic_hard.yaml holds the same values (its path ends in _hard).
HARD = Character(cloud_gaps=0.25, separability=0.6, noise=2.0, phenology_shift=0.75)


@dataclass(frozen=True)
class _Point:
    index: int  # position in the table; seeds the point's own random generator
    point_id: int
    crop: str
    province: str
    split_folder: str
    months: tuple[int, ...]
    phenology_shift: float  # months, the same for every point of the province


def _class_counts(num_points: int) -> np.ndarray:
    """Points per class proportional to the real balance (largest remainder, so they sum up)."""
    exact = num_points * _CLASS_WEIGHTS / _CLASS_WEIGHTS.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: num_points - counts.sum()]] += 1
    return counts


def _split_folders(num_points: int, rng: np.random.Generator) -> list[str]:
    """80/10/10 split folders, for points listed class by class.

    A repeating pattern, rather than rounding per class, keeps validation and test non-empty
    in small trees while still spreading every class over the three folders.
    """
    offset = int(rng.integers(len(_SPLIT_PATTERN)))
    return [_SPLIT_PATTERN[(i + offset) % len(_SPLIT_PATTERN)] for i in range(num_points)]


def _month_set(rng: np.random.Generator) -> tuple[int, ...]:
    """The months a point has images for: a common set by its share, else month by month."""
    sets = list(_COMMON_MONTH_SETS)
    shares = np.array(list(_COMMON_MONTH_SETS.values()))
    pick = rng.uniform()
    if pick < shares.sum():
        return sets[int(np.searchsorted(np.cumsum(shares), pick, side="right"))]
    while True:
        chosen = tuple(
            m for m, p in zip(MONTHS, _OTHER_MONTH_PROBABILITY, strict=True) if rng.uniform() < p
        )
        if chosen and chosen not in _COMMON_MONTH_SETS:
            return chosen


def _cloud_gaps(
    months: tuple[int, ...], probability: float, rng: np.random.Generator
) -> tuple[int, ...]:
    """``months`` less those lost to clouds, each with ``probability``; one is always kept."""
    draws = rng.uniform(size=len(months))
    kept = tuple(m for m, d in zip(months, draws, strict=True) if d >= probability)
    return kept or (months[int(np.argmax(draws))],)


def _plan_points(num_points: int, seed: int, character: Character) -> list[_Point]:
    """Who is who: every point's id, class, province, split folder and months, in one draw.

    Cloud gaps and province shifts draw from generators of their own, so that the default
    character leaves the rest of the draw, and so the bytes, as they always were.
    """
    rng = np.random.default_rng([seed, 0])
    counts = _class_counts(num_points)
    crops = np.repeat(np.array(CLASSES), counts)
    folders = np.array(_split_folders(num_points, rng))
    order = rng.permutation(num_points)
    crops, folders = crops[order], folders[order]
    ids = rng.choice(np.arange(1, max(100_000, 10 * num_points)), num_points, replace=False)
    p_prov = np.array([_PROVINCE_WEIGHTS[p] for p in PROVINCES])
    provinces = rng.choice(np.array(PROVINCES), num_points, p=p_prov / p_prov.sum())
    months = [_month_set(rng) for _ in range(num_points)]
    gaps = np.random.default_rng([seed, 2])
    months = [_cloud_gaps(m, character.cloud_gaps, gaps) for m in months]
    shifts = np.random.default_rng([seed, 3]).normal(0, character.phenology_shift, len(PROVINCES))
    shift = dict(zip(PROVINCES, shifts.tolist(), strict=True))
    return [
        _Point(
            i,
            int(ids[i]),
            str(crops[i]),
            str(provinces[i]),
            str(folders[i]),
            months[i],
            shift[str(provinces[i])],
        )
        for i in range(num_points)
    ]


# ---------------------------------------------------------------------------------------------
# Land covers, their spectra and phenology.

# Surface reflectance of each cover in the bands B2, B3, B4, B5, B6, B8 (typical values from
# spectral libraries, rounded). Soil is separate: every field scales it by its own brightness.
_COVERS = ("green", "dry", "flower", "conifer", "autumn")
_SPECTRA = np.array(
    [
        [0.030, 0.075, 0.035, 0.120, 0.330, 0.420],  # green leaves
        [0.075, 0.105, 0.130, 0.165, 0.215, 0.260],  # dry straw, stubble, senescent leaves
        [0.040, 0.150, 0.120, 0.230, 0.330, 0.380],  # yellow canola flowers
        [0.020, 0.040, 0.022, 0.070, 0.190, 0.240],  # conifer crowns
        [0.035, 0.070, 0.090, 0.170, 0.250, 0.300],  # deciduous leaves in autumn colours
    ]
)
_SOIL = np.array([0.065, 0.100, 0.150, 0.180, 0.220, 0.280])

# Share of each cover in mid June, July, August, September, October; soil fills the rest.
# Cereals ripen and are cut in August, canola flowers in July, corn peaks late, soybean turns
# yellow in September, potato vines are killed in September and dug by October.
_PHENOLOGY: dict[str, dict[str, tuple[float, ...]]] = {
    "BARLEY": {"green": (0.50, 0.80, 0.30, 0.05, 0.05), "dry": (0.05, 0.12, 0.55, 0.50, 0.40)},
    "OAT": {"green": (0.42, 0.82, 0.45, 0.08, 0.06), "dry": (0.04, 0.10, 0.45, 0.55, 0.40)},
    "SPRING_WHEAT": {
        "green": (0.45, 0.84, 0.38, 0.06, 0.05),
        "dry": (0.05, 0.10, 0.52, 0.52, 0.40),
    },
    "CANOLA": {
        "green": (0.40, 0.40, 0.70, 0.20, 0.05),
        "flower": (0.02, 0.45, 0.05, 0.00, 0.00),
        "dry": (0.02, 0.05, 0.15, 0.55, 0.40),
    },
    "CORN": {"green": (0.05, 0.40, 0.90, 0.85, 0.35), "dry": (0.02, 0.02, 0.02, 0.08, 0.50)},
    "SOYBEAN": {"green": (0.05, 0.30, 0.85, 0.35, 0.02), "dry": (0.02, 0.02, 0.03, 0.50, 0.25)},
    "POTATO": {"green": (0.30, 0.80, 0.80, 0.15, 0.02), "dry": (0.03, 0.03, 0.15, 0.45, 0.05)},
    "PASTURE": {"green": (0.70, 0.68, 0.60, 0.60, 0.50), "dry": (0.15, 0.18, 0.25, 0.25, 0.30)},
    "MIXEDWOOD": {
        "conifer": (0.45, 0.45, 0.45, 0.45, 0.45),
        "green": (0.50, 0.50, 0.50, 0.45, 0.20),
        "autumn": (0.00, 0.00, 0.00, 0.05, 0.30),
    },
    "ORCHARD": {"green": (0.60, 0.65, 0.65, 0.60, 0.45), "dry": (0.12, 0.12, 0.15, 0.15, 0.25)},
}
# The grass verge, tracks and ditches along field edges.
_VERGE = {"green": (0.45,) * 5, "dry": (0.30,) * 5}

# Top of atmosphere: scattered light added to every band (most in blue), as in Sentinel-2 L1C.
_PATH_RADIANCE = np.array([0.090, 0.058, 0.045, 0.035, 0.020, 0.012])
_CLOUD = np.array([0.42, 0.42, 0.43, 0.44, 0.45, 0.46])
_HAZE = np.array([0.22, 0.20, 0.18, 0.17, 0.16, 0.15])
_NOISE_STD = np.array([0.004, 0.004, 0.004, 0.005, 0.006, 0.008])
_CLOUD_PROBABILITY = 0.04  # clouds were removed by hand from the real tree, but not all
_HAZE_PROBABILITY = 0.10
_B2, _B3, _B4, _B5, _B6, _B8 = range(6)

_PIXEL = np.arange(IMAGE_SIZE) - IMAGE_SIZE // 2


def _phenology_table(shares: dict[str, tuple[float, ...]]) -> np.ndarray:
    table = np.zeros((len(_COVERS), len(MONTHS)))
    for cover, values in shares.items():
        table[_COVERS.index(cover)] = values
    return table


# What ``separability`` pulls every class toward.
_MEAN_PHENOLOGY = np.mean([_phenology_table(_PHENOLOGY[c]) for c in CLASSES], axis=0)


@functools.cache
def _interpolation_matrix(cells: int) -> np.ndarray:
    """Bilinear upsampling of a ``cells`` x ``cells`` grid to the patch, as a matrix."""
    x = np.linspace(0, cells - 1, IMAGE_SIZE)
    low = np.minimum(np.floor(x).astype(int), cells - 2)
    frac = x - low
    matrix = np.zeros((IMAGE_SIZE, cells))
    matrix[np.arange(IMAGE_SIZE), low] = 1 - frac
    matrix[np.arange(IMAGE_SIZE), low + 1] = frac
    return matrix


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance noise with blobs about ``IMAGE_SIZE / cells`` pixels wide."""
    matrix = _interpolation_matrix(cells)
    noise = matrix @ rng.standard_normal((cells, cells)) @ matrix.T
    return (noise - noise.mean()) / noise.std()


def _texture(
    crop: str, rng: np.random.Generator, across_rows: np.ndarray, noise: float
) -> np.ndarray:
    """Per-cover multiplicative maps (mean about 1) that give each class its look; ``noise``
    scales their amplitude."""
    maps = np.ones((len(_COVERS), IMAGE_SIZE, IMAGE_SIZE))
    green, dry, flower, conifer, autumn = range(len(_COVERS))
    if crop == "MIXEDWOOD":
        # Crowns a few pixels wide, conifer and deciduous stands mixed at two scales.
        mottle = np.clip(0.7 * _smooth_noise(rng, 16) + 0.5 * _smooth_noise(rng, 5), -1.5, 1.5)
        maps[conifer] = 1 + 0.6 * noise * mottle
        maps[green] = maps[autumn] = 1 - 0.55 * noise * mottle
    elif crop == "ORCHARD":
        period = rng.uniform(3.0, 5.0)
        rows = np.cos(2 * np.pi * across_rows / period + rng.uniform(0, 2 * np.pi))
        maps[green] = 1 + 0.3 * noise * rows
        maps[dry] = 1 - 0.2 * noise * rows
    elif crop in ("PASTURE", "VERGE"):
        patches = _smooth_noise(rng, 8)
        maps[green] = 1 + 0.22 * noise * patches
        maps[dry] = 1 - 0.3 * noise * patches
    else:
        # Crops: smooth vigour differences (soil, drainage) plus small plant-to-plant noise.
        vigour = (
            1
            + 0.15 * noise * _smooth_noise(rng, 6)
            + 0.05 * noise * rng.standard_normal(maps.shape[1:])
        )
        maps[green] = maps[flower] = vigour
        maps[dry] = 2 - vigour
    if noise > 1:
        # Amplified maps would dip below zero, a negative share of a cover; at noise <= 1 they
        # are left as they were, so the default tree keeps its bytes.
        maps = np.maximum(maps, 0)
    return maps


@dataclass
class _Field:
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
        # In _COVERS order: vigour and weather act on the crop canopy, not on conifers.
        shares *= np.array([self.vigour * weather, self.dryness, self.vigour, 1.0, 1.0])
        cover = shares[:, None, None] * self.texture
        return cover / np.maximum(cover.sum(axis=0), 1.0)


def _crop_field(
    crop: str,
    rng: np.random.Generator,
    across_rows: np.ndarray,
    province_shift: float,
    character: Character,
) -> _Field:
    s = character.separability
    return _Field(
        phenology=s * _phenology_table(_PHENOLOGY[crop]) + (1 - s) * _MEAN_PHENOLOGY,
        shift=float(np.clip(rng.normal(0, 0.3), -0.8, 0.8)) + province_shift,
        vigour=rng.uniform(0.8, 1.1),
        dryness=rng.uniform(0.8, 1.2),
        texture=_texture(crop, rng, across_rows, character.noise),
    )


def _verge(rng: np.random.Generator, across_rows: np.ndarray, noise: float) -> _Field:
    return _Field(
        phenology=_phenology_table(_VERGE),
        shift=0.0,
        vigour=rng.uniform(0.7, 1.1),
        dryness=1.0,
        texture=_texture("VERGE", rng, across_rows, noise),
    )


def _soft_box(u: np.ndarray, v: np.ndarray, half_u: float, half_v: float) -> np.ndarray:
    """1 inside the rectangle, 0 outside, a linear ramp over the pixel that its edge crosses."""
    return np.clip(half_u + 0.5 - np.abs(u), 0, 1) * np.clip(half_v + 0.5 - np.abs(v), 0, 1)


def _patch_layout(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Weights (field, verge, neighbour A, neighbour B) per pixel, and the across-row coordinate.

    The field is a rotated rectangle near the centre (38% of the patch to all of it), ringed by a
    verge one or two pixels wide; a line through the field splits the rest between two neighbours.
    """
    y, x = np.meshgrid(_PIXEL, _PIXEL, indexing="ij")
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


# ---------------------------------------------------------------------------------------------
# From land to pixels.


def _coarsen(bands: np.ndarray) -> np.ndarray:
    """Average 2 x 2 blocks and repeat them back: B5 and B6 are 20 m bands resampled to 10 m."""
    padded = np.pad(bands, ((0, 0), (0, 1), (0, 1)), mode="edge")
    channels, height, width = padded.shape
    blocks = padded.reshape(channels, height // 2, 2, width // 2, 2).mean(axis=(2, 4))
    return blocks.repeat(2, axis=1).repeat(2, axis=2)[:, :IMAGE_SIZE, :IMAGE_SIZE]


def _surface(
    fields: list[_Field],
    weights: np.ndarray,
    soil: np.ndarray,
    month: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Surface reflectance (bands, H, W): the fields' covers mixed per pixel, soil in the gaps."""
    cover = sum(w * f.fractions(month, rng) for w, f in zip(weights, fields, strict=True))
    bare = 1 - cover.sum(axis=0)
    return np.einsum("khw,kb->bhw", cover, _SPECTRA) + (bare * soil) * _SOIL[:, None, None]


def _cloud_opacity(rng: np.random.Generator) -> np.ndarray:
    """A few round, lumpy puffs of cumulus somewhere over the patch."""
    y, x = np.meshgrid(_PIXEL, _PIXEL, indexing="ij")
    opacity = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    for _ in range(rng.integers(1, 5)):
        cx, cy = rng.uniform(-40, 40, size=2)
        radius = rng.uniform(5, 18)
        puff = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
        opacity += rng.uniform(0.5, 1.2) * puff
    return np.clip(opacity * (1 + 0.2 * _smooth_noise(rng, 10)), 0, 0.95)


def _top_of_atmosphere(surface: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """What the satellite sees: path radiance, sometimes haze or a cloud, then sensor noise
    (``noise`` times its usual level)."""
    path = _PATH_RADIANCE * rng.normal(1.0, 0.15)
    bands = surface * rng.normal(1.0, 0.03) + path[:, None, None]
    if rng.uniform() < _HAZE_PROBABILITY:
        haze = rng.uniform(0.05, 0.25)
        bands = (1 - haze) * bands + haze * _HAZE[:, None, None]
    if rng.uniform() < _CLOUD_PROBABILITY:
        cloud = _cloud_opacity(rng)
        bands = (1 - cloud) * bands + cloud * _CLOUD[:, None, None]
    bands = bands + (noise * _NOISE_STD)[:, None, None] * rng.standard_normal(bands.shape)
    bands[[_B5, _B6]] = _coarsen(bands[[_B5, _B6]])
    return np.maximum(bands, 1e-3)  # keeps index denominators positive


def _indices(bands: np.ndarray) -> dict[str, np.ndarray]:
    b2, b3, b4, b5, b6, b8 = bands
    return {
        "NDVI": (b8 - b4) / (b8 + b4),
        "NDVI45": (b5 - b4) / (b5 + b4),
        "GNDVI": (b8 - b3) / (b8 + b3),
        "OSAVI": (b8 - b4) / (b8 + b4 + 0.16),
        "PSRI": (b4 - b2) / b6,
    }


def _encode(bands: np.ndarray) -> dict[str, Image.Image]:
    """The six PNG images of one date, encoded the way the real tree's were."""
    rgb = np.clip(bands[[_B4, _B3, _B2]] * 255, 0, 255).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
    image = ImageEnhance.Contrast(image).enhance(1.5)
    images = {"RGB": ImageEnhance.Brightness(image).enhance(1.5)}
    for sensor, index in _indices(bands).items():
        value = (np.clip(index, 0, 1) * 255).astype(np.uint8)
        images[sensor] = Image.fromarray(np.repeat(value[:, :, None], 3, axis=2))
    return images


def _render_point(
    point: _Point, seed: int, character: Character
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(month, bands)`` for each date of a point, from the point's own generator."""
    rng = np.random.default_rng([seed, 1, point.index])
    weights, across_rows = _patch_layout(rng)
    neighbours = rng.choice(CLASSES, size=2, p=_CLASS_WEIGHTS / _CLASS_WEIGHTS.sum())
    shift = point.phenology_shift  # the neighbours grow in the same province's season
    fields = [
        _crop_field(point.crop, rng, across_rows, shift, character),
        _verge(rng, across_rows, character.noise),
        *(_crop_field(str(crop), rng, across_rows, shift, character) for crop in neighbours),
    ]
    soil = rng.uniform(0.7, 1.3) * (1 + 0.08 * _smooth_noise(rng, 5))
    for month in point.months:
        acquired = month + rng.uniform(-0.35, 0.35)  # mid-month +- 10 days
        surface = _surface(fields, weights, soil, acquired, rng)
        yield month, _top_of_atmosphere(surface, rng, character.noise)


# ---------------------------------------------------------------------------------------------
# The tree.

_CHUNK = 25  # points per task: small enough for a smooth progress bar


def summary_path(root: Path) -> Path:
    """Where the summary of the tree at ``root`` goes: beside it, ``<root>.synthetic.json``.

    Outside the tree, so the tree holds exactly what a real one does; its presence is also what
    lets ``overwrite`` replace the tree.
    """
    return root.with_name(root.name + ".synthetic.json")


def _write_points(
    tree: Path, points: list[_Point], seed: int, year: int, character: Character
) -> int:
    """Write every date and sensor of ``points``; return the number of images."""
    written = 0
    for point in points:
        for month, bands in _render_point(point, seed, character):
            for sensor, image in _encode(bands).items():
                date = year * 100 + month
                name = PatchName(point.point_id, date, point.province, point.crop, sensor)
                # Level 1: encoding is most of the run time, and noisy pixels hardly compress
                # better at the default level 6.
                image.save(tree / patch_path(name, point.split_folder), "PNG", compress_level=1)
                written += 1
    return written


def _write_chunks(
    tree: Path, points: list[_Point], seed: int, year: int, character: Character, workers: int
) -> Iterator[tuple[int, int]]:
    """Write the points in chunks; yield (images, points) per finished chunk, in any order.

    Every point draws from its own generator, so the bytes do not depend on the chunking or
    the number of threads. Threads suffice: PNG encoding, most of the work, releases the GIL.
    """
    chunks = [points[i : i + _CHUNK] for i in range(0, len(points), _CHUNK)]
    if workers == 1:
        for chunk in chunks:
            yield _write_points(tree, chunk, seed, year, character), len(chunk)
        return
    with ThreadPoolExecutor(workers) as pool:
        futures = {
            pool.submit(_write_points, tree, c, seed, year, character): len(c) for c in chunks
        }
        try:
            for future in as_completed(futures):
                yield future.result(), futures[future]
        finally:
            pool.shutdown(cancel_futures=True)  # an interrupted run stops after running chunks


def _check_destination(root: Path, overwrite: bool) -> None:
    """Refuse a destination we could not, or should not, replace; before any work is done."""
    if root.exists() and not root.is_dir():
        raise CroplandError(f"dst {root} is a file; give a folder path for the synthetic tree")
    if not root.is_dir() or not any(root.iterdir()):
        return
    if not overwrite:
        raise CroplandError(
            f"dst {root} exists and is not empty; choose another dst, or set overwrite=true "
            "to replace a synthetic tree written there before"
        )
    if not summary_path(root).is_file():
        raise CroplandError(
            f"dst {root} is not a synthetic tree (there is no {summary_path(root).name} beside "
            "it); refusing to delete it even with overwrite=true: remove it yourself or choose "
            "another dst"
        )


def _check_arguments(num_points: int, seed: int, year: int, workers: int | None) -> None:
    if num_points < 1:
        raise CroplandError(f"num_points must be at least 1, got {num_points}")
    if seed < 0:
        raise CroplandError(f"seed must be a non-negative integer, got {seed}")
    if not 1000 <= year <= 9999:
        raise CroplandError(f"year must have four digits (the file names hold YYYYMM), got {year}")
    if workers is not None and workers < 1:
        raise CroplandError(f"workers must be at least 1, or null for one per core; got {workers}")


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _move_into_place(staging: Path, root: Path) -> None:
    """Rename the finished tree to ``root``, replacing what ``_check_destination`` allowed.

    The tree it replaces is moved aside under a temp name first, so that a run killed between
    the two renames leaves only folders that the next write beside ``root`` removes.
    """
    if root.exists():
        old = temp_path_for(root.with_name(root.name + ".old"))
        os.replace(root, old)
        os.replace(staging, root)
        shutil.rmtree(old)
    else:
        os.replace(staging, root)


def _summary(points: list[_Point], seed: int, year: int, character: Character, images: int) -> dict:
    months = Counter(m for p in points for m in p.months)
    return {
        "seed": seed,
        "year": year,
        **asdict(character),
        "num_points": len(points),
        "images_written": images,
        "records": sum(len(p.months) for p in points),
        "points_per_class": {c: sum(p.crop == c for p in points) for c in CLASSES},
        "points_per_split_folder": {
            s: sum(p.split_folder == s for p in points) for s in SPLIT_FOLDERS
        },
        "points_per_month": {str(year * 100 + m): months[m] for m in MONTHS},
        "points_with_fewer_than_3_dates": sum(len(p.months) < 3 for p in points),
    }


def synthetic_file_name(
    num_points: int = 1000,
    seed: int = 0,
    cloud_gaps: float = 0.0,
    separability: float = 1.0,
    noise: float = 1.0,
    phenology_shift: float = 0.0,
    **_: object,
) -> str:
    """The prepared file name of a synthetic dataset (``conf/data/synthetic.yaml`` and
    ``synthetic_hard.yaml`` build their default paths the same way): the settings that change
    its content are in the name, the character as :meth:`Character.suffix` writes it."""
    character = Character(cloud_gaps, separability, noise, phenology_shift)
    return f"synthetic_ca19_n{num_points}_seed{seed}{character.suffix()}.h5"


def _staging_folder(root: Path) -> Path:
    """A new, empty folder beside ``root`` to write the tree into, named as
    :func:`cropland.io.temp_path_for` names temp files: one left by a killed run is removed,
    with a warning, by the next run (or any atomic write) into the same folder."""
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(root.parent, folders=True)
    staging = temp_path_for(root)
    staging.mkdir()
    return staging


def generate_tree(
    root: Path | str,
    num_points: int = 1000,
    seed: int = 0,
    year: int = 2019,
    progress: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
    cloud_gaps: float = 0.0,
    separability: float = 1.0,
    noise: float = 1.0,
    phenology_shift: float = 0.0,
) -> dict:
    """Write a synthetic tree in the real 2019 layout at ``root``; return a JSON-able summary.

    ``cloud_gaps``, ``separability``, ``noise`` and ``phenology_shift`` make the data harder
    (see :class:`Character`; :data:`HARD` is the ``data=synthetic_hard`` preset); their
    defaults give the tree this function always wrote.
    The same arguments, except ``workers``, give byte-identical files, whatever
    ``workers`` (threads; default: one per usable core, fewer for small trees). Files are
    written to a hidden sibling folder that replaces ``root`` only when complete; the summary
    is also saved beside the tree (:func:`summary_path`). ``root`` must be absent or empty, or
    with ``overwrite`` an earlier synthetic tree (it has that summary); else CroplandError.
    """
    root = Path(root).absolute()  # "." has no name to put a sibling beside
    _check_arguments(num_points, seed, year, workers)
    character = Character(cloud_gaps, separability, noise, phenology_shift)
    _check_destination(root, overwrite)
    if workers is None:
        workers = min(_usable_cores(), -(-num_points // _CHUNK))
    points = _plan_points(num_points, seed, character)
    staging = _staging_folder(root)
    try:
        for folder in {(p.split_folder, p.crop) for p in points}:
            for sensor in SENSORS:
                staging.joinpath(sensor, *folder).mkdir(parents=True)
        images = 0
        # On stderr, so that stdout carries only what the caller prints (the script's JSON).
        with Progress(console=Console(stderr=True), disable=not progress) as bar:
            task = bar.add_task("Writing synthetic patches", total=num_points)
            chunks = _write_chunks(staging, points, seed, year, character, workers)
            for written, done in chunks:
                images += written
                bar.advance(task, done)
        _move_into_place(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary = _summary(points, seed, year, character, images)
    write_json_atomic(summary_path(root), summary)
    return summary
