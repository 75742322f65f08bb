"""Opening a raster someone else made: a file rasterio cannot read is one line naming it."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from cropland.errors import CroplandError


def first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def open_raster(path: Path) -> rasterio.DatasetReader:
    try:
        return rasterio.open(path)
    except (RasterioError, OSError) as error:
        raise CroplandError(
            f"{path}: not a raster rasterio can read ({first_line(error)})"
        ) from None
