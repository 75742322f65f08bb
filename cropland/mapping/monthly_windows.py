"""Windows of a block as the models know their input: at most one image per month.

The dataset holds one image per month, with cloudy months left out. Per window and month the
clearest acquisition is used (the smallest share of not-clear pixels in the window); a month
whose clearest acquisition is cloudier than ``max_cloud`` is absent from that window's
sequence, as the models have learned missing months to be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class WindowSequences:
    """For each window (row, column of its top-left pixel in the block), the acquisition used
    per month (-1: month absent), and the months."""

    origins: np.ndarray  # (windows, 2)
    chosen: np.ndarray  # (windows, months) index into the block's dates, -1 when absent
    months: tuple[int, ...]

    def lengths(self) -> np.ndarray:
        return (self.chosen >= 0).sum(axis=1)


def window_origins(start: int, stop: int, extent: int, size: int, stride: int) -> np.ndarray:
    """Top-left coordinates along one axis of the windows whose pixels reach ``[start, stop)``
    of an axis of ``extent`` pixels: the multiples of ``stride``, and one window flush with the
    end so the last pixels are covered."""
    last = extent - size
    grid = np.arange(0, last + 1, stride)
    if grid[-1] != last:
        grid = np.append(grid, last)
    return grid[(grid + size > start) & (grid < stop)]


def cloud_shares(clear: np.ndarray, origins: np.ndarray, size: int) -> np.ndarray:
    """The share of not-clear pixels of each window on each date, ``(windows, dates)``, from a
    summed-area table of the block's ``clear`` mask ``(dates, h, w)``."""
    cloudy = np.pad((~clear).astype(np.int64), ((0, 0), (1, 0), (1, 0)))
    table = cloudy.cumsum(axis=1).cumsum(axis=2)
    r, c = origins[:, 0], origins[:, 1]
    total = (
        table[:, r + size, c + size]
        - table[:, r, c + size]
        - table[:, r + size, c]
        + table[:, r, c]
    )
    return (total / (size * size)).T


def choose_months(
    shares: np.ndarray,
    date_months: np.ndarray,
    months: tuple[int, ...],
    max_cloud: float,
) -> np.ndarray:
    """``(windows, months)``: per window and month the clearest date of that month within
    ``max_cloud``, else -1; the earliest of equally clear dates."""
    chosen = np.full((shares.shape[0], len(months)), -1, dtype=np.int64)
    for m, month in enumerate(months):
        dates = np.flatnonzero(date_months == month)
        if len(dates) == 0:
            continue
        in_month = shares[:, dates]
        best = in_month.argmin(axis=1)
        usable = in_month[np.arange(len(best)), best] <= max_cloud
        chosen[usable, m] = dates[best[usable]]
    return chosen


def month_bits(chosen: np.ndarray, months: tuple[int, ...]) -> np.ndarray:
    """Per window, the months its sequence holds as a bitmask (bit ``m - 1`` for month ``m``),
    uint16: ``chosen`` is ``(windows, months)`` as :func:`choose_months` gives it."""
    bits = np.left_shift(1, np.asarray(months, dtype=np.uint16) - 1).astype(np.uint16)
    return np.bitwise_or.reduce(np.where(chosen >= 0, bits, 0).astype(np.uint16), axis=1)


def months_of_bits(bits: int) -> list[int]:
    """The calendar months of a :func:`month_bits` mask."""
    return [month for month in range(1, 13) if bits >> (month - 1) & 1]
