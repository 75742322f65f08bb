"""Small Sentinel-2 scenes in the band-folder layout, written from arrays, for the map tests:
``<root>/<YYYYMMDD>/B02.tif ... B08.tif`` (10 m), ``B05.tif``, ``B06.tif`` and ``SCL.tif``
(20 m), uint16 digital numbers of an L1C product."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

CRS = "EPSG:32613"
ORIGIN = (400000.0, 5600000.0)
TEN_METRE_BANDS = ("B02", "B03", "B04", "B08")
TWENTY_METRE_BANDS = ("B05", "B06")
DATES = ("20190610", "20190625", "20190712", "20190808", "20190820", "20190915", "20191005")


def write_band(
    path: Path, data: np.ndarray, pixel: float, *, tags: dict | None = None, crs: str | None = CRS
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "transform": Affine(pixel, 0.0, ORIGIN[0], 0.0, -pixel, ORIGIN[1]),
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.update_tags(**(tags or {"PROCESSING_LEVEL": "L1C"}))


def write_scene(
    root: Path,
    size: int = 150,
    seed: int = 0,
    dates: tuple[str, ...] = DATES,
    cloudy_corner: int = 0,
) -> Path:
    """Random but plausible numbers (reflectance 0.02-0.5, more near-infrared than red), SCL
    clear except a ``cloudy_corner`` x ``cloudy_corner`` px cloud at the top left of every
    date."""
    rng = np.random.default_rng(seed)
    coarse = (size + 1) // 2
    for date in dates:
        folder = root / date
        for band in TEN_METRE_BANDS + TWENTY_METRE_BANDS:
            side = coarse if band in TWENTY_METRE_BANDS else size
            high = 5000 if band == "B08" else 2500
            data = rng.integers(200, high, (side, side)).astype(np.uint16)
            write_band(folder / f"{band}.tif", data, 20.0 if side == coarse else 10.0)
        scl = np.full((coarse, coarse), 4, dtype=np.uint8)
        scl[: cloudy_corner // 2, : cloudy_corner // 2] = 9
        write_band(folder / "SCL.tif", scl, 20.0)
    return root
