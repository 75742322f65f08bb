"""The layout of a map's ``input``, told from what it is, and its acquisitions.

* a folder of date sub-folders, one file per band: :mod:`cropland.mapping.band_folders`;
* a folder of multi-band GeoTIFFs, one per date: :mod:`cropland.mapping.multiband_files`;
* a STAC ItemCollection or Item JSON file, or a folder of Item files:
  :mod:`cropland.mapping.stac_items`.

A folder holding more than one of these is refused rather than read one way by guess.
"""

from __future__ import annotations

from pathlib import Path

from cropland.errors import CroplandError
from cropland.mapping.acquisitions import RASTER_SUFFIXES, Acquisition, date_in_name
from cropland.mapping.band_folders import read_band_folders
from cropland.mapping.multiband_files import read_multiband_files
from cropland.mapping.stac_items import read_stac_files

LAYOUTS = (
    "date sub-folders of band files (<scene>/<YYYYMMDD>/B02.tif ...), one multi-band GeoTIFF "
    "per date (<scene>/<YYYYMMDD>.tif) or STAC items (items.json, or a folder of Item files); "
    "see docs/maps.md, 'Input layouts'"
)


def read_scene(source: Path, needed: tuple[str, ...]) -> list[Acquisition]:
    """The acquisitions of ``input``, sorted by date, each with every band of ``needed``."""
    where = f"input={source}"
    if source.is_file():
        if source.suffix.lower() == ".json":
            return read_stac_files([source], needed, where)
        raise CroplandError(f"{where}: a file that is not STAC JSON (.json); expected {LAYOUTS}")
    if not source.is_dir():
        state = "no such file or folder" if not source.exists() else "not a file or folder"
        raise CroplandError(f"{where}: {state}; expected {LAYOUTS}")
    entries = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    kinds = {
        "date sub-folders": [p for p in entries if p.is_dir()],
        "multi-band GeoTIFFs": [
            p
            for p in entries
            if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES and date_in_name(p.stem)
        ],
        "STAC JSON files": [p for p in entries if p.is_file() and p.suffix.lower() == ".json"],
    }
    found = {kind: paths for kind, paths in kinds.items() if paths}
    if len(found) > 1:
        (first, a), (second, b) = list(found.items())[:2]
        hint = "give the JSON file itself as input, or " if "STAC JSON files" in found else ""
        raise CroplandError(
            f"{where}: holds both {first} ({a[0].name}) and {second} ({b[0].name}); "
            f"{hint}move one kind out; expected one layout: {LAYOUTS}"
        )
    if "date sub-folders" in found:
        return read_band_folders(source, needed)
    if "STAC JSON files" in found:
        return read_stac_files(found["STAC JSON files"], needed, where)
    rasters = [p for p in entries if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES]
    if rasters:
        return read_multiband_files(rasters, needed, where)
    raise CroplandError(f"{where}: nothing to read inside; expected {LAYOUTS}")
