"""Smooth random fields, and the per-class textures made from them (crowns, tree rows...).

Both are made over a patch by default, or over any shape (a field of a synthetic scene) with
blobs of the same size in pixels.
"""

from __future__ import annotations

import functools

import numpy as np

from cropland.data.layout import IMAGE_SIZE
from cropland.data.synthetic.covers import COVERS


@functools.cache
def _interpolation_matrix(cells: int, size: int) -> np.ndarray:
    """Bilinear upsampling to ``size`` pixels of knots spaced as ``cells`` knots span a patch,
    as a matrix (``size``, knots); over a patch the knots are exactly ``cells``."""
    # Knots in pixel units of the patch's spacing; an exact binary fraction (IMAGE_SIZE - 1 = 64).
    extent = (size - 1) * (cells - 1) / (IMAGE_SIZE - 1)
    knots = max(int(np.ceil(extent)) + 1, 2)
    x = np.linspace(0, extent, size)
    low = np.minimum(np.floor(x).astype(int), knots - 2)
    frac = x - low
    matrix = np.zeros((size, knots))
    matrix[np.arange(size), low] = 1 - frac
    matrix[np.arange(size), low + 1] = frac
    return matrix


def smooth_noise(
    rng: np.random.Generator, cells: int, shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)
) -> np.ndarray:
    """Zero-mean, unit-variance noise with blobs about ``IMAGE_SIZE / cells`` pixels wide, over
    a patch or any ``shape`` (rows, columns)."""
    rows, columns = (_interpolation_matrix(cells, side) for side in shape)
    noise = rows @ rng.standard_normal((rows.shape[1], columns.shape[1])) @ columns.T
    return (noise - noise.mean()) / noise.std()


def texture(
    crop: str, rng: np.random.Generator, across_rows: np.ndarray, noise: float
) -> np.ndarray:
    """Per-cover multiplicative maps (mean about 1) that give each class its look, over the
    shape of ``across_rows`` (a patch, or a scene's field); ``noise`` scales their amplitude."""
    shape = across_rows.shape
    maps = np.ones((len(COVERS), *shape))
    green, dry, flower, conifer, autumn = range(len(COVERS))
    if crop == "MIXEDWOOD":
        # Crowns a few pixels wide, conifer and deciduous stands mixed at two scales.
        mottle = np.clip(
            0.7 * smooth_noise(rng, 16, shape) + 0.5 * smooth_noise(rng, 5, shape), -1.5, 1.5
        )
        maps[conifer] = 1 + 0.6 * noise * mottle
        maps[green] = maps[autumn] = 1 - 0.55 * noise * mottle
    elif crop == "ORCHARD":
        period = rng.uniform(3.0, 5.0)
        rows = np.cos(2 * np.pi * across_rows / period + rng.uniform(0, 2 * np.pi))
        maps[green] = 1 + 0.3 * noise * rows
        maps[dry] = 1 - 0.2 * noise * rows
    elif crop in ("PASTURE", "VERGE"):
        patches = smooth_noise(rng, 8, shape)
        maps[green] = 1 + 0.22 * noise * patches
        maps[dry] = 1 - 0.3 * noise * patches
    else:
        # Crops: smooth vigour differences (soil, drainage) plus small plant-to-plant noise.
        vigour = (
            1
            + 0.15 * noise * smooth_noise(rng, 6, shape)
            + 0.05 * noise * rng.standard_normal(maps.shape[1:])
        )
        maps[green] = maps[flower] = vigour
        maps[dry] = 2 - vigour
    if noise > 1:
        # Amplified maps would dip below zero, a negative share of a cover; at noise <= 1 they
        # are left as they were, so the default tree keeps its bytes.
        maps = np.maximum(maps, 0)
    return maps
