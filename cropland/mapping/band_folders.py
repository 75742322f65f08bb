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
from pathlib import Path

from cropland.errors import CroplandError
from cropland.mapping.acquisitions import (
    RASTER_SUFFIXES,
    Acquisition,
    BandSource,
    band_in_name,
    by_date,
    date_in_name,
    refuse_too_many,
)


def band_of(path: Path) -> tuple[str, int] | None:
    """``("B04", 10)`` for ``T13UDR_20190715T180919_B04_10m.jp2``; resolution 0 when the name
    does not say it."""
    if path.suffix.lower() not in RASTER_SUFFIXES:
        return None
    return band_in_name(path.stem)


def read_band_folders(root: Path, needed: tuple[str, ...]) -> list[Acquisition]:
    """The acquisitions under ``root``, sorted by date, each with every band of ``needed``."""
    if not root.is_dir():
        raise CroplandError(f"input={root}: not a folder; expected one sub-folder per date")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    refuse_too_many(len(folders), f"input={root}", "date folders")
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
    return by_date(acquisitions, f"input={root}", "date folder")


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
    bands = {band: BandSource(finest[band][1]) for band in needed}
    scl = BandSource(finest["SCL"][1]) if "SCL" in finest else None
    return Acquisition(date, folder, bands, scl)
