"""The point table: class, province, split folder and months of every point, drawn at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cropland.data.layout import CLASSES, MONTHS, PROVINCES

if TYPE_CHECKING:  # settings takes its class balance from here
    from cropland.data.synthetic.settings import GeneratorSettings

# Proportional to the test supports of the real 2019 split (DATASET.md), in CLASSES order.
CLASS_WEIGHTS = np.array([36, 66, 55, 32, 67, 51, 47, 67, 104, 7], dtype=float)

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


@dataclass(frozen=True)
class Point:
    """One point of the tree: who it is, where its files go, and the months it has images for."""

    index: int  # position in the table; seeds the point's own random generator
    point_id: int
    crop: str
    province: str
    split_folder: str
    months: tuple[int, ...]
    phenology_shift: float  # months, the same for every point of the province


def _class_counts(num_points: int) -> np.ndarray:
    """Points per class proportional to the real balance (largest remainder, so they sum up)."""
    exact = num_points * CLASS_WEIGHTS / CLASS_WEIGHTS.sum()
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


def _month_set(rng: np.random.Generator, settings: GeneratorSettings) -> tuple[int, ...]:
    """The months a point has images for: a common set by its share, else month by month."""
    sets = [months for months, _ in settings.common_month_sets]
    shares = np.array([share for _, share in settings.common_month_sets])
    pick = rng.uniform()
    if pick < shares.sum():
        return sets[int(np.searchsorted(np.cumsum(shares), pick, side="right"))]
    while True:
        chosen = tuple(
            m
            for m, p in zip(MONTHS, settings.other_month_probability, strict=True)
            if rng.uniform() < p
        )
        if chosen and chosen not in sets:
            return chosen


def _cloud_gaps(
    months: tuple[int, ...], probability: float, rng: np.random.Generator
) -> tuple[int, ...]:
    """``months`` less those lost to clouds, each with ``probability``; one is always kept."""
    draws = rng.uniform(size=len(months))
    kept = tuple(m for m, d in zip(months, draws, strict=True) if d >= probability)
    return kept or (months[int(np.argmax(draws))],)


def plan_points(num_points: int, seed: int, settings: GeneratorSettings) -> list[Point]:
    """Who is who: every point's id, class, province, split folder and months, in one draw.

    Cloud gaps and province shifts draw from generators of their own, so that the tuned
    settings leave the rest of the draw, and so the bytes, as they always were.
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
    months = [_month_set(rng, settings) for _ in range(num_points)]
    gaps = np.random.default_rng([seed, 2])
    months = [_cloud_gaps(m, settings.cloud_gaps, gaps) for m in months]
    shifts = np.random.default_rng([seed, 3]).normal(0, settings.phenology_shift, len(PROVINCES))
    shift = dict(zip(PROVINCES, shifts.tolist(), strict=True))
    return [
        Point(
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
