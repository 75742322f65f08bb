"""``until=YYYYMM``: classify with what is known by that month, as a season in progress is.

The dataset's sequences hold one image per month of one year's season. Up to ``until``, a
sequence of that year has its images of ``until``'s month and before; one of an earlier year
has its whole season; one of a later year has nothing yet.
"""

from __future__ import annotations

from typing import NamedTuple

from cropland.errors import CroplandError


class Until(NamedTuple):
    year: int
    month: int

    def last_month_of(self, year: int) -> int:
        """The last calendar month a sequence of ``year`` may use: 0 for none."""
        if year < self.year:
            return 12
        return self.month if year == self.year else 0

    def __str__(self) -> str:
        return f"{self.year}{self.month:02d}"


def parse_until(value: object, key: str = "until") -> Until | None:
    """``201907`` (or ``"2019-07"``) -> ``Until(2019, 7)``; None for null."""
    if value is None:
        return None
    text = str(value).replace("-", "")
    if isinstance(value, bool) or not (len(text) == 6 and text.isdigit()):
        raise CroplandError(
            f"{key}={value!r}: expected a year and month as YYYYMM, e.g. {key}=201907 for the "
            "images up to July 2019, or null for all"
        )
    year, month = int(text[:4]), int(text[4:])
    if not 1 <= month <= 12 or not 2015 <= year <= 2100:
        raise CroplandError(
            f"{key}={value!r}: expected YYYYMM with a month from 01 to 12 and a year of the "
            "Sentinel-2 era (2015 on), e.g. 201907"
        )
    return Until(year, month)
