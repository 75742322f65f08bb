"""Writing a synthetic scene: every date's band files, block by block, then the truth raster,
the field polygons and a summary, into a folder that becomes ``dst`` only once complete
(:func:`cropland.io.atomic_output`)."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window
from rich.console import Console
from rich.progress import Progress

from cropland.data.layout import CLASSES, IMAGE_SIZE
from cropland.data.synthetic.scene.acquisitions import YEAR, SceneDate, plan_dates
from cropland.data.synthetic.scene.blocks import (
    ROWS_PER_BLOCK,
    TEN_METRE_BANDS,
    TWENTY_METRE_BANDS,
    render_block,
)
from cropland.data.synthetic.scene.parcels import OUTSIDE, Parcels, plan_parcels
from cropland.data.synthetic.settings import GeneratorSettings, tuned_settings
from cropland.errors import CroplandError
from cropland.io import atomic_output

CRS = "EPSG:32613"  # UTM zone 13N: the southern Prairies
ORIGIN = (400000.0, 5600000.0)  # top-left corner, metres
PIXEL = 10.0
# A scene holds one patch at least; beyond this it is more than a Sentinel-2 tile (10980 px)
# many times over, and a typo.
MAX_SIZE = 20000
SCENE_FOLDER = "scene"
SUMMARY = "scene.json"
# Band files as Sentinel-2 stores them: one band each, compressed losslessly.
_PROFILE = {"driver": "GTiff", "count": 1, "compress": "deflate", "predictor": 2, "crs": CRS}
# The dataset's patches are top-of-atmosphere images; scripts/map.py reads the level here.
_TAGS = {"PROCESSING_LEVEL": "L1C"}


def _check_arguments(size: int, seed: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not IMAGE_SIZE <= size <= MAX_SIZE:
        raise CroplandError(
            f"size={size}: expected a whole number of pixels from {IMAGE_SIZE} (one patch) to "
            f"{MAX_SIZE}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CroplandError(f"seed={seed}: expected a non-negative whole number")


def _check_destination(root: Path, overwrite: bool) -> None:
    """Refuse a destination we could not, or should not, replace; before any work is done."""
    if not isinstance(overwrite, bool):
        raise CroplandError(f"overwrite={overwrite!r}: expected true or false")
    if root.exists() and not root.is_dir():
        raise CroplandError(f"dst {root} is a file; give a folder path for the synthetic scene")
    if not root.is_dir() or not any(root.iterdir()):
        return
    if not overwrite:
        raise CroplandError(
            f"dst {root} exists and is not empty; choose another dst, or set overwrite=true "
            "to replace a synthetic scene written there before"
        )
    if not (root / SUMMARY).is_file():
        raise CroplandError(
            f"dst {root} is not a synthetic scene (it has no {SUMMARY}); refusing to delete it "
            "even with overwrite=true: remove it yourself or choose another dst"
        )


def _raster(
    path: Path, side: int, pixel: float, dtype: str, nodata: int
) -> rasterio.io.DatasetWriter:
    """A square single-band GeoTIFF of the scene's grid (``pixel`` metres) open for writing."""
    transform = Affine(pixel, 0.0, ORIGIN[0], 0.0, -pixel, ORIGIN[1])
    return rasterio.open(
        path,
        "w",
        **_PROFILE,
        width=side,
        height=side,
        dtype=dtype,
        nodata=nodata,
        transform=transform,
    )


def _write_date(
    folder: Path,
    parcels: Parcels,
    size: int,
    seed: int,
    settings: GeneratorSettings,
    acquisition: SceneDate,
    date_index: int,
) -> None:
    """The date's band files, written a block of rows at a time."""
    folder.mkdir(parents=True)
    coarse = (size + 1) // 2
    with contextlib.ExitStack() as files:
        rasters = {
            band: files.enter_context(_raster(folder / f"{band}.tif", size, PIXEL, "uint16", 0))
            for band in TEN_METRE_BANDS
        }
        rasters |= {
            band: files.enter_context(
                _raster(folder / f"{band}.tif", coarse, 2 * PIXEL, "uint16", 0)
            )
            for band in TWENTY_METRE_BANDS
        }
        # SCL 0 is its own "no data" class.
        rasters["SCL"] = files.enter_context(
            _raster(folder / "SCL.tif", coarse, 2 * PIXEL, "uint8", 0)
        )
        for raster in rasters.values():
            raster.update_tags(**_TAGS)
        for start in range(0, size, ROWS_PER_BLOCK):
            stop = min(start + ROWS_PER_BLOCK, size)
            block = render_block(
                parcels, start, stop, size, seed, settings, acquisition, date_index
            )
            for band, data in block.items():
                row = start if band in TEN_METRE_BANDS else start // 2
                window = Window(0, row, data.shape[1], data.shape[0])
                rasters[band].write(data, 1, window=window)


def _write_truth(path: Path, parcels: Parcels, size: int) -> None:
    with _raster(path, size, PIXEL, "uint8", OUTSIDE) as raster:
        raster.update_tags(**{f"CLASS_{i}": name for i, name in enumerate(CLASSES)})
        for start in range(0, size, ROWS_PER_BLOCK):
            stop = min(start + ROWS_PER_BLOCK, size)
            window = Window(0, start, size, stop - start)
            raster.write(parcels.labels(start, stop, size), 1, window=window)


def _write_fields(path: Path, parcels: Parcels) -> None:
    import geopandas
    import shapely

    fields = parcels.fields()
    boxes = []
    for parcel in fields:
        top, bottom, left, right = parcels.field_bounds(parcel)
        boxes.append(
            shapely.box(
                ORIGIN[0] + left * PIXEL,
                ORIGIN[1] - bottom * PIXEL,
                ORIGIN[0] + right * PIXEL,
                ORIGIN[1] - top * PIXEL,
            )
        )
    table = geopandas.GeoDataFrame(
        {
            "field_id": np.arange(1, len(fields) + 1),
            "crop": [CLASSES[int(c)] for c in parcels.crop[fields]],
        },
        geometry=boxes,
        crs=CRS,
    )
    table.to_file(path, layer="fields", driver="GPKG")


def _summary(parcels: Parcels, dates: list[SceneDate], size: int, seed: int) -> dict:
    crops = Counter(CLASSES[int(c)] for c in parcels.crop[parcels.fields()])
    return {
        "seed": seed,
        "size": size,
        "year": YEAR,
        "crs": CRS,
        "pixel_m": PIXEL,
        "dates": [f"{d.date:%Y%m%d}" for d in dates],
        "cloudy_dates": [f"{d.date:%Y%m%d}" for d in dates if d.cloudy],
        "fields": len(parcels.fields()),
        "fields_per_class": {c: crops[c] for c in CLASSES},
        "parcels_without_crop": len(parcels) - len(parcels.fields()),
    }


def generate_scene(
    dst: Path | str,
    size: int = 512,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Write a ``size`` x ``size`` synthetic Sentinel-2 L1C scene with known fields at ``dst``;
    return its summary (also saved as ``<dst>/scene.json``).

    ``dst`` gets ``scene/<YYYYMMDD>/`` band files (B02, B03, B04, B08 at 10 m; B05, B06 and
    SCL at 20 m), ``truth.tif`` (class index per pixel, 255 off the fields) and
    ``fields.gpkg`` (layer ``fields``: field_id, crop, polygon). The same arguments give the
    same rasters, byte for byte. ``dst`` must be absent or empty, or with ``overwrite`` an
    earlier synthetic scene (it has ``scene.json``); else CroplandError.
    """
    root = Path(dst).absolute()  # "." has no name to put a sibling beside
    _check_arguments(size, seed)
    _check_destination(root, overwrite)
    settings = tuned_settings()
    parcels = plan_parcels(size, seed, settings)
    dates = plan_dates(size, seed, settings)
    summary = _summary(parcels, dates, size, seed)
    with atomic_output(root, folder=True, overwrite=overwrite) as staging:
        # On stderr, so that stdout carries only what the caller prints (the script's JSON).
        with Progress(console=Console(stderr=True), disable=not progress) as bar:
            task = bar.add_task("Writing synthetic scene dates", total=len(dates))
            for index, acquisition in enumerate(dates):
                folder = staging / SCENE_FOLDER / f"{acquisition.date:%Y%m%d}"
                _write_date(folder, parcels, size, seed, settings, acquisition, index)
                bar.advance(task)
        _write_truth(staging / "truth.tif", parcels, size)
        _write_fields(staging / "fields.gpkg", parcels)
        (staging / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
