"""A scene's land split into parcels: a jittered grid of rectangles, each a field of one class
inside a grass verge, or non-crop grass altogether.

Columns of random widths, each cut into rows of its own random heights (a brick pattern);
sides are as long as the patch generator's point fields are across (40 to 90 pixels), so a
model's 65-pixel window over a field sees what its patches showed it: a field filling a good
part of the window, a verge and neighbouring fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cropland.data.layout import CLASSES
from cropland.data.synthetic.planning import CLASS_WEIGHTS
from cropland.data.synthetic.settings import GeneratorSettings

# Sides of a parcel in pixels; a last piece of a column or row shorter than the minimum joins
# the one before it.
PARCEL_SIDE = (40, 90)
MIN_SIDE = 20
# Share of parcels that hold no crop (grass, as the verges): outside every field in the truth.
BACKGROUND_SHARE = 0.1
BACKGROUND = -1
# The truth's value outside every field.
OUTSIDE = 255


@dataclass(frozen=True)
class Parcels:
    """Every parcel's pixel bounds ``[top, bottom) x [left, right)``, the width of the verge
    inside each of its sides (pixels) and its class index (:data:`BACKGROUND`: no crop)."""

    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    verge: np.ndarray
    crop: np.ndarray

    def __len__(self) -> int:
        return len(self.crop)

    def touching_rows(self, start: int, stop: int) -> np.ndarray:
        """The parcels with pixels in rows ``[start, stop)``."""
        return np.flatnonzero((self.top < stop) & (self.bottom > start))

    def field_bounds(self, parcel: int) -> tuple[int, int, int, int]:
        """The field inside the verge: top, bottom, left, right."""
        v = int(self.verge[parcel])
        return (
            int(self.top[parcel]) + v,
            int(self.bottom[parcel]) - v,
            int(self.left[parcel]) + v,
            int(self.right[parcel]) - v,
        )

    def fields(self) -> np.ndarray:
        """The parcels that hold a field, in order: field ``k`` (id ``k + 1``) is parcel
        ``fields()[k]``."""
        return np.flatnonzero(self.crop != BACKGROUND)

    def labels(self, start: int, stop: int, width: int) -> np.ndarray:
        """Class index per pixel of rows ``[start, stop)``, :data:`OUTSIDE` off the fields."""
        labels = np.full((stop - start, width), OUTSIDE, dtype=np.uint8)
        for parcel in self.touching_rows(start, stop):
            if self.crop[parcel] == BACKGROUND:
                continue
            top, bottom, left, right = self.field_bounds(parcel)
            first, last = max(top, start), min(bottom, stop)
            if first < last:  # not only the parcel's verge in these rows
                labels[first - start : last - start, left:right] = self.crop[parcel]
        return labels


def _cuts(size: int, rng: np.random.Generator) -> np.ndarray:
    """0 = c0 < c1 < ... = ``size``: one axis cut into pieces of :data:`PARCEL_SIDE`."""
    cuts = [0]
    while cuts[-1] < size:
        cuts.append(cuts[-1] + int(rng.integers(PARCEL_SIDE[0], PARCEL_SIDE[1] + 1)))
    cuts[-1] = size
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < MIN_SIDE:
        del cuts[-2]
    return np.array(cuts)


def plan_parcels(size: int, seed: int, settings: GeneratorSettings) -> Parcels:
    """The parcels of a ``size`` x ``size`` scene; crops in the real class balance, verges as
    wide as the patch generator's (``settings.verge_width``, whole pixels)."""
    rng = np.random.default_rng([seed, 0])
    top, bottom, left, right = [], [], [], []
    columns = _cuts(size, rng)
    for column_left, column_right in zip(columns[:-1], columns[1:], strict=True):
        rows = _cuts(size, rng)
        top += rows[:-1].tolist()
        bottom += rows[1:].tolist()
        left += [int(column_left)] * (len(rows) - 1)
        right += [int(column_right)] * (len(rows) - 1)
    count = len(top)
    crop = rng.choice(len(CLASSES), size=count, p=CLASS_WEIGHTS / CLASS_WEIGHTS.sum())
    crop[rng.uniform(size=count) < BACKGROUND_SHARE] = BACKGROUND
    verge = np.rint(rng.uniform(*settings.verge_width, size=count)).astype(int)
    return Parcels(
        *(np.array(bounds) for bounds in (top, bottom, left, right)), verge, crop.astype(int)
    )
