"""What every input layout of a scene gives the scene reader: its acquisitions, each a date and
where each band's pixels are (a file, and which band of it), with the names and dates as
Sentinel-2 products write them."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from cropland.errors import CroplandError

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
# A date of the Sentinel-2 era, not part of a longer number (tile ids and times hold digits).
_DATE = re.compile(r"(?<!\d)(20\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
# A band name at the end of a text, after a product or tile id when there is one, and
# optionally with its resolution (L2A names): B04, T13UDR_20190715T180919_B04, B05_20m.
_BAND = re.compile(r"(?:^|[_.-])(B0[1-9]|B8A|B1[0-2]|SCL)(?:_(\d+)m)?$", re.IGNORECASE)
# So many acquisitions are more than a season's worth of every revisit; a guard, not a rule.
MAX_ACQUISITIONS = 2000


@dataclass(frozen=True)
class BandSource:
    """Where one band's pixels are: ``path``, and the band ``index`` in it (1-based); ``None``
    when the file holds that band alone, as a product's band files do."""

    path: Path
    index: int | None = None


@dataclass(frozen=True)
class Acquisition:
    """One date of a scene: its bands by name (``B04``), and SCL when given.

    ``source`` is the folder, file or STAC JSON the acquisition came from (``item`` names the
    STAC item in it). ``catalogue`` holds what a catalogue says of the product, in the
    products' own metadata names (``PROCESSING_LEVEL``, ``BOA_ADD_OFFSET``); it is believed
    before the band files' own metadata."""

    date: datetime.date
    source: Path
    bands: dict[str, BandSource] = field(hash=False)
    scl: BandSource | None = None
    item: str | None = None
    catalogue: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def month(self) -> int:
        return self.date.month

    @property
    def where(self) -> str:
        return f"{self.source} (item {self.item})" if self.item else str(self.source)

    def files(self) -> list[Path]:
        """Every file the acquisition reads, once each, in band order."""
        sources = [*self.bands.values(), *([self.scl] if self.scl else [])]
        return list(dict.fromkeys(source.path for source in sources))


def date_in_name(name: str) -> datetime.date | None:
    """The first valid calendar date ``YYYYMMDD`` in ``name``."""
    for match in _DATE.finditer(name):
        try:
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:  # 20190231
            continue
    return None


def band_in_name(text: str) -> tuple[str, int] | None:
    """``("B04", 10)`` for ``T13UDR_20190715T180919_B04_10m``; resolution 0 when the text
    does not say it."""
    match = _BAND.search(text.strip())
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2) or 0)


def by_date(acquisitions: list[Acquisition], where: str, what: str) -> list[Acquisition]:
    """``acquisitions`` sorted by date, refused when there are none or two share a date."""
    if not acquisitions:
        raise CroplandError(f"{where}: no {what}s; see docs/maps.md, 'Input layouts'")
    dates = [a.date for a in acquisitions]
    repeated = sorted({d for d in dates if dates.count(d) > 1})
    if repeated:
        sources = [a.where for a in acquisitions if a.date == repeated[0]]
        raise CroplandError(
            f"{where}: date {repeated[0]:%Y%m%d} has more than one {what} ({', '.join(sources)}); "
            "keep one acquisition per date and tile"
        )
    return sorted(acquisitions, key=lambda a: a.date)


def refuse_too_many(count: int, where: str, what: str) -> None:
    if count > MAX_ACQUISITIONS:
        raise CroplandError(
            f"{where}: more than {MAX_ACQUISITIONS} {what}; map one season at a time"
        )
