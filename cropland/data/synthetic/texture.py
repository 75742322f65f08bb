"""Smooth random fields, and the per-class textures made from them (crowns, tree rows...)."""

from __future__ import annotations

import functools

import numpy as np

from cropland.data.layout import IMAGE_SIZE
from cropland.data.synthetic.covers import COVERS


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


def smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance noise with blobs about ``IMAGE_SIZE / cells`` pixels wide."""
    matrix = _interpolation_matrix(cells)
    noise = matrix @ rng.standard_normal((cells, cells)) @ matrix.T
    return (noise - noise.mean()) / noise.std()


def texture(
    crop: str, rng: np.random.Generator, across_rows: np.ndarray, noise: float
) -> np.ndarray:
    """Per-cover multiplicative maps (mean about 1) that give each class its look; ``noise``
    scales their amplitude."""
    maps = np.ones((len(COVERS), IMAGE_SIZE, IMAGE_SIZE))
    green, dry, flower, conifer, autumn = range(len(COVERS))
    if crop == "MIXEDWOOD":
        # Crowns a few pixels wide, conifer and deciduous stands mixed at two scales.
        mottle = np.clip(0.7 * smooth_noise(rng, 16) + 0.5 * smooth_noise(rng, 5), -1.5, 1.5)
        maps[conifer] = 1 + 0.6 * noise * mottle
        maps[green] = maps[autumn] = 1 - 0.55 * noise * mottle
    elif crop == "ORCHARD":
        period = rng.uniform(3.0, 5.0)
        rows = np.cos(2 * np.pi * across_rows / period + rng.uniform(0, 2 * np.pi))
        maps[green] = 1 + 0.3 * noise * rows
        maps[dry] = 1 - 0.2 * noise * rows
    elif crop in ("PASTURE", "VERGE"):
        patches = smooth_noise(rng, 8)
        maps[green] = 1 + 0.22 * noise * patches
        maps[dry] = 1 - 0.3 * noise * patches
    else:
        # Crops: smooth vigour differences (soil, drainage) plus small plant-to-plant noise.
        vigour = (
            1
            + 0.15 * noise * smooth_noise(rng, 6)
            + 0.05 * noise * rng.standard_normal(maps.shape[1:])
        )
        maps[green] = maps[flower] = vigour
        maps[dry] = 2 - vigour
    if noise > 1:
        # Amplified maps would dip below zero, a negative share of a cover; at noise <= 1 they
        # are left as they were, so the default tree keeps its bytes.
        maps = np.maximum(maps, 0)
    return maps
