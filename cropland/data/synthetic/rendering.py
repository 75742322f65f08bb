"""From land to pixels: a point's fields mixed into surface reflectance, seen through the
atmosphere by the sensor. The bands become the six PNG images of one date in
:mod:`cropland.data.sentinel2_encoding`, as a scene's bands do for the map.

After the surface come top-of-atmosphere path radiance, occasional haze or clouds, sensor
noise and 20 m resolution for B5/B6. The pieces are public so that a synthetic scene
(:mod:`.scene`) renders its fields through the same surface and sky as the patches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cropland.data.layout import CLASSES, IMAGE_SIZE
from cropland.data.sentinel2_encoding import BANDS
from cropland.data.synthetic.covers import SOIL, SPECTRA
from cropland.data.synthetic.fields import (
    PIXEL_FROM_CENTRE,
    Field,
    crop_field,
    patch_layout,
    verge_field,
)
from cropland.data.synthetic.planning import Point
from cropland.data.synthetic.settings import GeneratorSettings
from cropland.data.synthetic.texture import smooth_noise

# Top of atmosphere: scattered light added to every band (most in blue), as in Sentinel-2 L1C.
_PATH_RADIANCE = np.array([0.090, 0.058, 0.045, 0.035, 0.020, 0.012])
_CLOUD = np.array([0.42, 0.42, 0.43, 0.44, 0.45, 0.46])
_HAZE = np.array([0.22, 0.20, 0.18, 0.17, 0.16, 0.15])
_NOISE_STD = np.array([0.004, 0.004, 0.004, 0.005, 0.006, 0.008])
_B5, _B6 = BANDS.index("B05"), BANDS.index("B06")
# The darkest reflectance an image holds: keeps index denominators positive.
MIN_REFLECTANCE = 1e-3


@dataclass(frozen=True)
class Sky:
    """The atmosphere of one image, the same over all of it: the surface's gain (illumination,
    calibration), the path radiance per band, the share of haze (0: none), and whether a
    cloud is somewhere in it."""

    gain: float
    path: np.ndarray
    haze: float
    cloudy: bool


def draw_sky(rng: np.random.Generator, settings: GeneratorSettings) -> Sky:
    """One image's atmosphere: haze and a cloud each with their probability in ``settings``."""
    path = _PATH_RADIANCE * rng.normal(1.0, 0.15)
    gain = rng.normal(1.0, 0.03)
    haze = rng.uniform(0.05, 0.25) if rng.uniform() < settings.haze_probability else 0.0
    return Sky(gain, path, haze, bool(rng.uniform() < settings.cloud_probability))


def coarsen(bands: np.ndarray) -> np.ndarray:
    """Average 2 x 2 blocks (an odd last row or column is repeated): a 20 m band from 10 m."""
    _, height, width = bands.shape
    padded = np.pad(bands, ((0, 0), (0, height % 2), (0, width % 2)), mode="edge")
    channels, height, width = padded.shape
    return padded.reshape(channels, height // 2, 2, width // 2, 2).mean(axis=(2, 4))


def _coarsen(bands: np.ndarray) -> np.ndarray:
    """Average 2 x 2 blocks and repeat them back: B5 and B6 are 20 m bands resampled to 10 m."""
    blocks = coarsen(bands)
    return blocks.repeat(2, axis=1).repeat(2, axis=2)[:, :IMAGE_SIZE, :IMAGE_SIZE]


def surface_reflectance(
    fields: list[Field],
    weights: np.ndarray,
    soil: np.ndarray,
    month: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Surface reflectance (bands, H, W): the fields' covers mixed per pixel by ``weights``
    (fields, H, W), soil (brightness per pixel) in the gaps."""
    cover = sum(w * f.fractions(month, rng) for w, f in zip(weights, fields, strict=True))
    bare = 1 - cover.sum(axis=0)
    return np.einsum("khw,kb->bhw", cover, SPECTRA) + (bare * soil) * SOIL[:, None, None]


def _cloud_opacity(rng: np.random.Generator) -> np.ndarray:
    """A few round, lumpy puffs of cumulus somewhere over the patch."""
    y, x = np.meshgrid(PIXEL_FROM_CENTRE, PIXEL_FROM_CENTRE, indexing="ij")
    opacity = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    for _ in range(rng.integers(1, 5)):
        cx, cy = rng.uniform(-40, 40, size=2)
        radius = rng.uniform(5, 18)
        puff = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
        opacity += rng.uniform(0.5, 1.2) * puff
    return np.clip(opacity * (1 + 0.2 * smooth_noise(rng, 10)), 0, 0.95)


def seen_from_space(
    surface: np.ndarray,
    sky: Sky,
    cloud: np.ndarray | None,
    rng: np.random.Generator,
    settings: GeneratorSettings,
) -> np.ndarray:
    """What the satellite records of ``surface`` (bands, H, W) at 10 m: path radiance, the
    sky's haze, a cloud of per-pixel ``cloud`` opacity (None: none), then sensor noise. B5 and
    B6 are still 10 m (:func:`coarsen`), and nothing is yet clipped to
    :data:`MIN_REFLECTANCE`."""
    bands = surface * sky.gain + sky.path[:, None, None]
    if sky.haze:
        bands = (1 - sky.haze) * bands + sky.haze * _HAZE[:, None, None]
    if cloud is not None:
        bands = (1 - cloud) * bands + cloud * _CLOUD[:, None, None]
    return bands + (settings.pixel_noise * _NOISE_STD)[:, None, None] * rng.standard_normal(
        bands.shape
    )


def _top_of_atmosphere(
    surface: np.ndarray, rng: np.random.Generator, settings: GeneratorSettings
) -> np.ndarray:
    """What the satellite sees: path radiance, sometimes haze or a cloud, then sensor noise."""
    sky = draw_sky(rng, settings)
    cloud = _cloud_opacity(rng) if sky.cloudy else None
    bands = seen_from_space(surface, sky, cloud, rng, settings)
    bands[[_B5, _B6]] = _coarsen(bands[[_B5, _B6]])
    return np.maximum(bands, MIN_REFLECTANCE)


def render_point(
    point: Point, seed: int, settings: GeneratorSettings
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(month, bands)`` for each date of a point, from the point's own generator."""
    rng = np.random.default_rng([seed, 1, point.index])
    weights, across_rows = patch_layout(rng, settings)
    class_weights = np.array(settings.neighbour_class_weights)
    neighbours = rng.choice(CLASSES, size=len(weights) - 2, p=class_weights / class_weights.sum())
    if settings.neighbour_same_class > 0:  # drawn only then, so the tuned bytes stay
        same = rng.uniform(size=len(neighbours)) < settings.neighbour_same_class
        neighbours = np.where(same, point.crop, neighbours)
    shift = point.phenology_shift  # the neighbours grow in the same province's season
    fields = [
        crop_field(point.crop, rng, across_rows, shift, settings),
        verge_field(rng, across_rows, settings.texture_strength),
        *(crop_field(str(crop), rng, across_rows, shift, settings) for crop in neighbours),
    ]
    soil = rng.uniform(0.7, 1.3) * (1 + 0.08 * smooth_noise(rng, 5))
    for month in point.months:
        acquired = month + rng.uniform(-0.35, 0.35)  # mid-month +- 10 days
        surface = surface_reflectance(fields, weights, soil, acquired, rng)
        yield month, _top_of_atmosphere(surface, rng, settings)
