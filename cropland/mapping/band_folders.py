"""A scene given as a folder of acquisitions: one sub-folder per date, one file per band.

```
<scene>/<YYYYMMDD or any name holding such a date>/B02.tif  B03.jp2  ..._B04_10m.jp2  SCL.tif
```

Band files are named as Sentinel-2 products name them (``B02``, ``T13UDR_20190715T180919_B04``,
``..._B05_20m``); where a date holds one band at several resolutions (an L2A product's R10m,
R20m and R60m folders flattened), the finest is used. ``SCL`` (the L2A scene classification)
is optional. Only the bands the model's channels need must be present.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from cropland.errors import CroplandError

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
# A date of the Sentinel-2 era, not part of a longer number (tile ids and times hold digits).
_DATE = re.compile(r"(?<!\d)(20\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
# A band at the end of a file's stem, optionally with its resolution (L2A names).
_BAND = re.compile(r"(?:^|[_.-])(B0[1-9]|B8A|B1[0-2]|SCL)(?:_(\d+)m)?$", re.IGNORECASE)
# So many acquisitions are more than a season's worth of every revisit; a guard, not a rule.
MAX_ACQUISITIONS = 2000


@dataclass(frozen=True)
class Acquisition:
    """One date of a scene: its band files by band name (``B04``), and SCL when given."""

    date: datetime.date
    source: Path
    bands: dict[str, Path] = field(hash=False)
    scl: Path | None = None

    @property
    def month(self) -> int:
        return self.date.month


def date_in_name(name: str) -> datetime.date | None:
    """The first valid calendar date ``YYYYMMDD`` in ``name``."""
    for match in _DATE.finditer(name):
        try:
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:  # 20190231
            continue
    return None


def band_of(path: Path) -> tuple[str, int] | None:
    """``("B04", 10)`` for ``T13UDR_20190715T180919_B04_10m.jp2``; resolution 0 when the name
    does not say it."""
    if path.suffix.lower() not in RASTER_SUFFIXES:
        return None
    match = _BAND.search(path.stem)
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2) or 0)


def read_band_folders(root: Path, needed: tuple[str, ...]) -> list[Acquisition]:
    """The acquisitions under ``root``, sorted by date, each with every band of ``needed``."""
    if not root.is_dir():
        raise CroplandError(f"input={root}: not a folder; expected one sub-folder per date")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    acquisitions = []
    for folder in folders:
        date = date_in_name(folder.name)
        if date is None:
            raise CroplandError(
                f"input={root}: folder {folder.name!r} names no date; expected one sub-folder "
                "per acquisition whose name holds its date as YYYYMMDD (e.g. 20190715 or "
                "S2A_MSIL1C_20190715T180919_...)"
            )
        acquisitions.append(_acquisition(folder, date, needed))
        if len(acquisitions) > MAX_ACQUISITIONS:
            raise CroplandError(
                f"input={root}: more than {MAX_ACQUISITIONS} date folders; map one season at a time"
            )
    if not acquisitions:
        raise CroplandError(
            f"input={root}: no date folders inside; expected <scene>/<YYYYMMDD>/B02.tif ... "
            "(see docs/maps.md for the input layouts)"
        )
    dates = [a.date for a in acquisitions]
    repeated = sorted({d for d in dates if dates.count(d) > 1})
    if repeated:
        raise CroplandError(
            f"input={root}: date {repeated[0]:%Y%m%d} has more than one folder; keep one "
            "acquisition per date and tile"
        )
    return sorted(acquisitions, key=lambda a: a.date)


def _acquisition(folder: Path, date: datetime.date, needed: tuple[str, ...]) -> Acquisition:
    finest: dict[str, tuple[int, Path]] = {}
    for path in sorted(folder.iterdir()):
        found = band_of(path)
        if found is None or not path.is_file():
            continue
        band, resolution = found
        if band in finest and finest[band][0] == resolution:
            raise CroplandError(
                f"{folder}: two files for band {band} at the same resolution "
                f"({finest[band][1].name}, {path.name}); keep one"
            )
        if band not in finest or resolution < finest[band][0]:
            finest[band] = (resolution, path)
    missing = [band for band in needed if band not in finest]
    if missing:
        raise CroplandError(
            f"{folder}: no file for band {', '.join(missing)}; the model's channels need "
            f"{', '.join(needed)} (files named like B04.tif or ..._B04_10m.jp2)"
        )
    bands = {band: finest[band][1] for band in needed}
    scl = finest.get("SCL")
    return Acquisition(date, folder, bands, scl[1] if scl else None)
