"""Window probabilities spread over pixels with a centre-weighted mask, summed and normalized.

The mask is a Hann window sampled at pixel centres, ``sin^2(pi (i + 0.5) / size)`` per axis:
highest at the centre, where a window's model saw the most context, and above zero at the
edges, so a pixel that one window alone covers (the scene's border) still gets its answer.
Windows overlapping a block are added whole-or-in-part into it, so a pixel's sum is the same
whichever block computes it: blocks join without seams. The months of the windows that reach a
pixel are kept beside, as a bitmask, for answers that say what a pixel's answer was made of.
"""

from __future__ import annotations

import numpy as np


def window_weights(size: int) -> np.ndarray:
    profile = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    return np.outer(profile, profile)


class BlockBlend:
    """Sums of weighted probabilities over a block of the output, ``(classes, h, w)``, and the
    months of the windows reaching each pixel (``month_bits``, ``(h, w)`` uint16)."""

    def __init__(self, classes: int, top: int, left: int, height: int, width: int, size: int):
        self.top, self.left, self.size = top, left, size
        self.sums = np.zeros((classes, height, width), dtype=np.float64)
        self.weights = np.zeros((height, width), dtype=np.float64)
        self.month_bits = np.zeros((height, width), dtype=np.uint16)
        self._mask = window_weights(size)

    def add(self, origins: np.ndarray, probabilities: np.ndarray, month_bits: np.ndarray) -> None:
        """Windows at ``origins`` ``(windows, 2)`` (scene pixels) with ``probabilities``
        ``(windows, classes)`` and the months of their sequences, ``month_bits`` ``(windows,)``
        (:func:`~cropland.mapping.monthly_windows.month_bits`)."""
        height, width = self.weights.shape
        for (row, col), probability, bits in zip(origins, probabilities, month_bits, strict=True):
            r0, c0 = row - self.top, col - self.left
            rows = slice(max(r0, 0), min(r0 + self.size, height))
            cols = slice(max(c0, 0), min(c0 + self.size, width))
            if rows.start >= rows.stop or cols.start >= cols.stop:
                continue
            mask = self._mask[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0]
            self.weights[rows, cols] += mask
            self.sums[:, rows, cols] += probability[:, None, None] * mask
            self.month_bits[rows, cols] |= bits

    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel probabilities ``(classes, h, w)`` and where any window reached."""
        covered = self.weights > 0
        out = np.zeros_like(self.sums)
        np.divide(self.sums, self.weights, out=out, where=covered)
        return out, covered
