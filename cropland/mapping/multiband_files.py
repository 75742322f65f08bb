"""A scene given as one multi-band GeoTIFF per date, its bands named by their descriptions.

```
<scene>/S2A_20190715.tif   (band descriptions B02, B03, B04, B05, B06, B08, SCL)
<scene>/20190801_T13UDR.tif
```

Each file's name holds its date as ``YYYYMMDD``; each band's description is its Sentinel-2
name (``B02`` ... ``B12``, ``B8A``, ``SCL``; any case, after a product or tile id and with a
resolution suffix as products write them: ``T13UDR_B04``, ``B05_20m``). Bands of other names
are ignored; only the bands the model's channels need must be there, SCL is optional. The
scene reader reads each band from its file by index, so 20 m bands are stored at the file's
resolution (resampled to 10 m, as the dataset's patches are).
"""

from __future__ import annotations

from pathlib import Path

from cropland.errors import CroplandError
from cropland.mapping.acquisitions import (
    Acquisition,
    BandSource,
    band_in_name,
    by_date,
    date_in_name,
    refuse_too_many,
)
from cropland.mapping.raster_files import open_raster


def read_multiband_files(
    files: list[Path], needed: tuple[str, ...], where: str
) -> list[Acquisition]:
    """The acquisitions of ``files`` (one per date), sorted by date."""
    refuse_too_many(len(files), where, "files")
    acquisitions = []
    for path in sorted(files):
        date = date_in_name(path.stem)
        if date is None:
            raise CroplandError(
                f"{path}: its name holds no date; expected one multi-band GeoTIFF per "
                "acquisition named with its date as YYYYMMDD (e.g. S2A_20190715.tif)"
            )
        acquisitions.append(_acquisition(path, date, needed))
    return by_date(acquisitions, where, "file")


def _acquisition(path: Path, date, needed: tuple[str, ...]) -> Acquisition:
    with open_raster(path) as dataset:
        descriptions = list(dataset.descriptions)
    indexes: dict[str, int] = {}
    for index, description in enumerate(descriptions, start=1):
        found = band_in_name(description or "")
        if found is None:
            continue
        band = found[0]
        if band in indexes:
            raise CroplandError(
                f"{path}: bands {indexes[band]} and {index} are both described as {band}; keep one"
            )
        indexes[band] = index
    missing = [band for band in needed if band not in indexes]
    if missing:
        seen = ", ".join(repr(d) for d in descriptions if d) or "none"
        raise CroplandError(
            f"{path}: no band described as {', '.join(missing)} (descriptions found: {seen}); "
            f"the model's channels need {', '.join(needed)}, each band of a multi-band file "
            "described by its Sentinel-2 name (B02 ... B12, B8A, SCL)"
        )
    bands = {band: BandSource(path, indexes[band]) for band in needed}
    scl = BandSource(path, indexes["SCL"]) if "SCL" in indexes else None
    return Acquisition(date, path, bands, scl)
