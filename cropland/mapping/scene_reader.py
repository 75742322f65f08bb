"""Blocks of a scene's acquisitions as reflectance on one 10 m grid.

The grid is the first date's finest band. Every band of every date is read through a rasterio
``WarpedVRT`` onto that grid, nearest neighbour: the 20 m bands become 2 x 2 blocks of 10 m
pixels (as in the dataset's patches), and a date of another CRS or tiling is reprojected.
Pixels with no data (digital number 0, or outside a date's footprint) and pixels SCL marks as
cloud, cloud shadow, cirrus, saturated or missing count as not clear.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from cropland.data.sentinel2_encoding import BANDS
from cropland.errors import CroplandError
from cropland.mapping.band_folders import Acquisition
from cropland.mapping.radiometry import Radiometry, radiometry

# SCL classes that hide the ground: no data, saturated or defective, cloud shadow, cloud of
# medium and high probability, thin cirrus.
NOT_CLEAR_SCL = (0, 1, 3, 8, 9, 10)
# A grid this large is more than a Sentinel-2 tile many times over: a crafted header.
MAX_GRID_PIXELS = 40_000 * 40_000


@dataclass(frozen=True)
class Grid:
    crs: rasterio.crs.CRS
    transform: rasterio.Affine
    width: int
    height: int

    @property
    def pixel_area_m2(self) -> float:
        return abs(self.transform.a * self.transform.e)


@dataclass
class Block:
    """One window of the grid: every date's digital numbers ``(dates, 6, h, w)`` (bands the
    model does not need are 0), the offset and scale that make them reflectance, and
    ``clear`` ``(dates, h, w)``."""

    window: Window
    numbers: np.ndarray
    offset: np.ndarray  # (dates,)
    scale: np.ndarray  # (dates,)
    clear: np.ndarray

    def reflectance(self, date: int) -> np.ndarray:
        """``(6, h, w)`` reflectance of one date."""
        return (self.numbers[date] + self.offset[date]) / self.scale[date]


def _open(path: Path) -> rasterio.DatasetReader:
    try:
        return rasterio.open(path)
    except (RasterioError, OSError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CroplandError(f"{path}: not a raster rasterio can read ({detail})") from None


class SceneReader(contextlib.AbstractContextManager):
    """Opens every band file of the acquisitions once, checks it, and reads blocks."""

    def __init__(
        self,
        acquisitions: list[Acquisition],
        needed: tuple[str, ...],
        *,
        level_setting: str | None,
        offset_setting: float | None,
        scale_setting: float,
    ) -> None:
        self.acquisitions = acquisitions
        self.needed = needed
        self._stack = contextlib.ExitStack()
        self._files: list[dict[str, rasterio.DatasetReader]] = []
        try:
            for acquisition in acquisitions:
                files = {band: _open(path) for band, path in acquisition.bands.items()}
                if acquisition.scl is not None:
                    files["SCL"] = _open(acquisition.scl)
                for dataset in files.values():
                    self._stack.callback(dataset.close)
                self._files.append(files)
            self.grid = self._reference_grid()
            self.radiometry = [
                self._radiometry(a, f, level_setting, offset_setting, scale_setting)
                for a, f in zip(acquisitions, self._files, strict=True)
            ]
            self._views = [self._warped(files) for files in self._files]
        except BaseException:
            self._stack.close()
            raise

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _reference_grid(self) -> Grid:
        first = self._files[0]
        dataset = min((first[b] for b in self.needed), key=lambda d: abs(d.transform.a))
        if dataset.crs is None or dataset.transform.is_identity:
            raise CroplandError(
                f"{dataset.name}: no coordinate reference system or georeferencing; expected "
                "a georeferenced Sentinel-2 band (GeoTIFF or JPEG 2000)"
            )
        if dataset.width * dataset.height > MAX_GRID_PIXELS:
            raise CroplandError(
                f"{dataset.name}: {dataset.width} x {dataset.height} pixels is larger than any "
                "Sentinel-2 scene; expected one tile or a part of one"
            )
        return Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)

    def _radiometry(self, acquisition, files, level, offset, scale) -> Radiometry:
        dataset = files[self.needed[0]]
        tags = {**dataset.tags(), **dataset.tags(1)}
        return radiometry(
            where=str(acquisition.source),
            date=acquisition.date,
            tags={k.upper(): v for k, v in tags.items()},
            gdal_scale=float(dataset.scales[0]),
            gdal_offset=float(dataset.offsets[0]),
            names=[acquisition.source.name, Path(dataset.name).name],
            level_setting=level,
            offset_setting=offset,
            scale_setting=scale,
        )

    def _warped(self, files: dict[str, rasterio.DatasetReader]) -> dict[str, WarpedVRT]:
        views = {}
        for band, dataset in files.items():
            if dataset.count != 1:
                raise CroplandError(
                    f"{dataset.name}: {dataset.count} bands; expected one band per file in a "
                    "band folder"
                )
            expected = ("uint8",) if band == "SCL" else ("uint16", "uint8")
            if dataset.dtypes[0] not in expected:
                raise CroplandError(
                    f"{dataset.name}: {dataset.dtypes[0]} pixels; expected {expected[0]} "
                    f"{'scene classes' if band == 'SCL' else 'digital numbers'} as Sentinel-2 "
                    "products store them"
                )
            if dataset.crs is None:
                raise CroplandError(
                    f"{dataset.name}: no coordinate reference system, so it cannot be placed "
                    f"on the grid of {self._files[0][self.needed[0]].name}"
                )
            vrt = WarpedVRT(
                dataset,
                crs=self.grid.crs,
                transform=self.grid.transform,
                width=self.grid.width,
                height=self.grid.height,
                resampling=Resampling.nearest,
                nodata=0,
            )
            self._stack.callback(vrt.close)
            views[band] = vrt
        return views

    def read(self, window: Window) -> Block:
        """Every date's numbers and clear mask inside ``window`` of the grid."""
        height, width = int(window.height), int(window.width)
        dates = len(self.acquisitions)
        numbers = np.zeros((dates, len(BANDS), height, width), dtype=np.uint16)
        clear = np.ones((dates, height, width), dtype=bool)
        for d, views in enumerate(self._views):
            for band in self.needed:
                numbers[d, BANDS.index(band)] = self._read_band(views[band], window)
                clear[d] &= numbers[d, BANDS.index(band)] != 0
            if "SCL" in views:
                scl = self._read_band(views["SCL"], window)
                clear[d] &= ~np.isin(scl, NOT_CLEAR_SCL)
        offset = np.array([r.offset for r in self.radiometry], dtype=np.float64)
        scale = np.array([r.scale for r in self.radiometry], dtype=np.float64)
        return Block(window, numbers, offset, scale, clear)

    @staticmethod
    def _read_band(view: WarpedVRT, window: Window) -> np.ndarray:
        try:
            return view.read(1, window=window)
        except (RasterioError, OSError) as error:
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CroplandError(
                f"{view.src_dataset.name}: unreadable at rows {window.row_off}.."
                f"{window.row_off + window.height} ({detail}); the file may be truncated"
            ) from None
