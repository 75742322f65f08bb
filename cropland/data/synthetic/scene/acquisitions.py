"""The dates of a scene and the sky on each: the patch generator's path radiance and haze, and
clouds with their shadows, which a scene keeps and its scene classification (SCL) marks.

Each date draws its sky once for the whole scene, as each patch image drew one: across dates
the skies vary as they did across the patches' images.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

import numpy as np

from cropland.data.layout import IMAGE_SIZE, MONTHS
from cropland.data.sentinel2_encoding import indices
from cropland.data.synthetic.rendering import Sky, draw_sky
from cropland.data.synthetic.settings import GeneratorSettings

# The dataset's year, before products carried a radiometric offset (baseline 04.00, 2022).
YEAR = 2019
# Early, middle and late in each month: within ten days of mid-month, as the patch images
# fall (their position in the season is the month +- 0.35).
DAY_SLOTS = ((5, 9), (13, 17), (21, 25))
# Probability that a date has clouds. The dataset's images had clouds removed by hand (the
# patch generator keeps 4%); a scene's dates keep theirs, for the map to leave out.
CLOUDY_DATES = 0.3
# On a cloudy date: puffs per patch area (a range, drawn per date), their radius in pixels
# and their opacity at the centre (the patch generator's).
PUFFS_PER_PATCH = (0.05, 0.5)
PUFF_RADIUS = (8.0, 30.0)
PUFF_OPACITY = (0.5, 1.2)
MAX_OPACITY = 0.95
# Shadows fall this many pixels north-west of their clouds (a morning sun in the south-east)
# and take this share of the light.
SHADOW_DISTANCE = (10.0, 40.0)
SHADOW_DARKENING = 0.6

# Scene classification codes of Sentinel-2 L2A, and what makes a pixel one: cloud opacity,
# shadow strength, NDVI of the surface.
CLOUD_SHADOW, VEGETATION, BARE_SOIL, CLOUD_MEDIUM, CLOUD_HIGH = 3, 4, 5, 8, 9
CLOUD_HIGH_OPACITY = 0.4
CLOUD_MEDIUM_OPACITY = 0.15
SHADOW_STRENGTH = 0.3
VEGETATION_NDVI = 0.5


@dataclass(frozen=True)
class Clouds:
    """Round puffs of cumulus, in scene pixels (row, column of each centre), and the offset of
    their shadows (rows, columns)."""

    rows: np.ndarray
    columns: np.ndarray
    radii: np.ndarray
    opacities: np.ndarray
    shadow_offset: tuple[float, float] = (0.0, 0.0)

    def opacity(
        self, start: int, stop: int, width: int, shift: tuple[float, float] = (0.0, 0.0)
    ) -> np.ndarray:
        """Cloud opacity over rows ``[start, stop)`` (rows, ``width``), the puffs moved by
        ``shift``; each puff is summed within three radii of its centre, so a block costs only
        the puffs over it."""
        out = np.zeros((stop - start, width))
        rows, columns = self.rows + shift[0], self.columns + shift[1]
        reach = 3 * self.radii
        near = (rows + reach >= start) & (rows - reach < stop)
        near &= (columns + reach >= 0) & (columns - reach < width)
        for row, column, radius, peak in zip(
            rows[near], columns[near], self.radii[near], self.opacities[near], strict=True
        ):
            r0, r1 = max(start, int(row - 3 * radius)), min(stop, int(row + 3 * radius) + 1)
            c0, c1 = max(0, int(column - 3 * radius)), min(width, int(column + 3 * radius) + 1)
            y = np.arange(r0, r1)[:, None] - row
            x = np.arange(c0, c1)[None, :] - column
            out[r0 - start : r1 - start, c0:c1] += peak * np.exp(-(y**2 + x**2) / (2 * radius**2))
        return np.clip(out, 0, MAX_OPACITY)

    def shadow(self, start: int, stop: int, width: int) -> np.ndarray:
        """How dark the clouds' shadows are over rows ``[start, stop)``, 0 to 1."""
        return self.opacity(start, stop, width, self.shadow_offset)


NO_CLOUDS = Clouds(*(np.zeros(0) for _ in range(4)))


@dataclass(frozen=True)
class SceneDate:
    """One acquisition: its date, its sky and its clouds (:data:`NO_CLOUDS` on a clear day)."""

    date: datetime.date
    sky: Sky
    clouds: Clouds

    @property
    def position(self) -> float:
        """Where in the season, as the phenology tables count it: the month, plus days from
        mid-month."""
        return self.date.month + (self.date.day - 15) / 30

    @property
    def cloudy(self) -> bool:
        return len(self.clouds.rows) > 0


def _clouds(rng: np.random.Generator, size: int) -> Clouds:
    density = rng.uniform(*PUFFS_PER_PATCH)
    count = 1 + int(rng.poisson(density * size * size / IMAGE_SIZE**2))
    distance = rng.uniform(*SHADOW_DISTANCE)
    return Clouds(
        rows=rng.uniform(0, size, count),
        columns=rng.uniform(0, size, count),
        radii=rng.uniform(*PUFF_RADIUS, count),
        opacities=rng.uniform(*PUFF_OPACITY, count),
        shadow_offset=(-distance * np.sqrt(0.5), -distance * np.sqrt(0.5)),
    )


def plan_dates(size: int, seed: int, settings: GeneratorSettings) -> list[SceneDate]:
    """A scene's acquisitions, three a month over the season, with at least one cloudy."""
    rng = np.random.default_rng([seed, 3])
    scene_sky = dataclasses.replace(settings, cloud_probability=CLOUDY_DATES)
    dates = []
    for month in MONTHS:
        for first, last in DAY_SLOTS:
            day = datetime.date(YEAR, month, int(rng.integers(first, last + 1)))
            sky = draw_sky(rng, scene_sky)
            dates.append(SceneDate(day, sky, _clouds(rng, size) if sky.cloudy else NO_CLOUDS))
    if not any(d.cloudy for d in dates):
        forced = int(rng.integers(len(dates)))
        date = dates[forced]
        sky = dataclasses.replace(date.sky, cloudy=True)
        dates[forced] = SceneDate(date.date, sky, _clouds(rng, size))
    return dates


def scene_classes(cloud: np.ndarray, shadow: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """SCL codes (uint8) from cloud opacity, shadow strength and surface reflectance
    ``(6, H, W)``: clouds over shadows over vegetation or bare soil."""
    scl = np.where(indices(surface)["NDVI"] >= VEGETATION_NDVI, VEGETATION, BARE_SOIL)
    scl[shadow >= SHADOW_STRENGTH] = CLOUD_SHADOW
    scl[cloud >= CLOUD_MEDIUM_OPACITY] = CLOUD_MEDIUM
    scl[cloud >= CLOUD_HIGH_OPACITY] = CLOUD_HIGH
    return scl.astype(np.uint8)
