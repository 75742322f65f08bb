"""Blocks of a scene's acquisitions as reflectance on one 10 m grid.

The grid is the first date's finest band. Every file of every date is opened once and read
through a rasterio ``WarpedVRT`` onto that grid (one per file; a multi-band file's bands are
read from it by index), nearest neighbour: the 20 m bands become 2 x 2 blocks of 10 m
pixels (as in the dataset's patches), and a date of another CRS or tiling is reprojected.
Pixels with no data (digital number 0, or outside a date's footprint) and pixels SCL marks as
cloud, cloud shadow, cirrus, saturated or missing count as not clear.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
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
from cropland.mapping.acquisitions import Acquisition, BandSource
from cropland.mapping.radiometry import Radiometry, radiometry
from cropland.mapping.raster_files import first_line, open_raster

# SCL classes that hide the ground: no data, saturated or defective, cloud shadow, cloud of
# medium and high probability, thin cirrus.
NOT_CLEAR_SCL = (0, 1, 3, 8, 9, 10)
# A grid this large is more than a Sentinel-2 tile many times over: a crafted header.
MAX_GRID_PIXELS = 40_000 * 40_000


# Files decoded at once: the machine's cores, at most 4 (decoding then waits on the disk).
READ_THREADS = min(4, os.cpu_count() or 1)


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
        self._pool = self._stack.enter_context(ThreadPoolExecutor(READ_THREADS))
        # Per date: each band's source, and each file opened once.
        self._sources: list[dict[str, BandSource]] = []
        self._files: list[dict[Path, rasterio.DatasetReader]] = []
        try:
            for acquisition in acquisitions:
                sources = dict(acquisition.bands)
                if acquisition.scl is not None:
                    sources["SCL"] = acquisition.scl
                files = {}
                for path in acquisition.files():
                    files[path] = open_raster(path)
                    self._stack.callback(files[path].close)
                self._sources.append(sources)
                self._files.append(files)
            self.grid = self._reference_grid()
            self.radiometry = [
                self._radiometry(a, d, level_setting, offset_setting, scale_setting)
                for d, a in enumerate(acquisitions)
            ]
            self._views = [self._warped(d) for d in range(len(acquisitions))]
        except BaseException:
            self._stack.close()
            raise

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _dataset(self, date: int, band: str) -> rasterio.DatasetReader:
        return self._files[date][self._sources[date][band].path]

    def _reference_grid(self) -> Grid:
        datasets = [self._dataset(0, band) for band in self.needed]
        dataset = min(datasets, key=lambda d: abs(d.transform.a))
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

    def _radiometry(self, acquisition, date, level, offset, scale) -> Radiometry:
        dataset = self._dataset(date, self.needed[0])
        index = self._sources[date][self.needed[0]].index or 1
        tags = {**dataset.tags(), **dataset.tags(index)}
        names = [acquisition.source.name, *([acquisition.item] if acquisition.item else [])]
        return radiometry(
            where=acquisition.where,
            date=acquisition.date,
            tags={k.upper(): v for k, v in tags.items()},
            gdal_scale=float(dataset.scales[index - 1]),
            gdal_offset=float(dataset.offsets[index - 1]),
            names=[*names, Path(dataset.name).name],
            level_setting=level,
            offset_setting=offset,
            scale_setting=scale,
            catalogue=acquisition.catalogue,
        )

    def _check_band(self, band: str, source: BandSource, dataset) -> None:
        if source.index is None and dataset.count != 1:
            raise CroplandError(
                f"{dataset.name}: {dataset.count} bands; expected one band per file in a "
                "band folder"
            )
        index = source.index or 1
        if not 1 <= index <= dataset.count:
            raise CroplandError(
                f"{dataset.name}: has {dataset.count} bands, no band {index} for {band}"
            )
        # A multi-band file has one type for all its bands, so SCL may come as uint16 there.
        expected = ("uint8", "uint16") if band == "SCL" else ("uint16", "uint8")
        if dataset.dtypes[index - 1] not in expected:
            raise CroplandError(
                f"{dataset.name}: {dataset.dtypes[index - 1]} pixels; expected {expected[0]} "
                f"{'scene classes' if band == 'SCL' else 'digital numbers'} as Sentinel-2 "
                "products store them"
            )

    def _warped(self, date: int) -> dict[Path, WarpedVRT | rasterio.DatasetReader]:
        for band, source in self._sources[date].items():
            self._check_band(band, source, self._files[date][source.path])
        views = {}
        for path, dataset in self._files[date].items():
            if dataset.crs is None:
                raise CroplandError(
                    f"{dataset.name}: no coordinate reference system, so it cannot be placed "
                    f"on the grid of {self._dataset(0, self.needed[0]).name}"
                )
            if self._on_grid(dataset):
                views[path] = dataset  # read as it is: a warp would give the same pixels, slower
                continue
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
            views[path] = vrt
        return views

    def _on_grid(self, dataset) -> bool:
        """Whether ``dataset`` already is on the grid, with no nodata value of its own (which
        the warp would turn into 0)."""
        return (
            dataset.crs == self.grid.crs
            and dataset.transform.almost_equals(self.grid.transform)
            and (dataset.width, dataset.height) == (self.grid.width, self.grid.height)
            and dataset.nodata in (None, 0)
        )

    def read(self, window: Window) -> Block:
        """Every date's numbers and clear mask inside ``window`` of the grid."""
        height, width = int(window.height), int(window.width)
        dates = len(self.acquisitions)
        numbers = np.zeros((dates, len(BANDS), height, width), dtype=np.uint16)
        clear = np.ones((dates, height, width), dtype=bool)
        # Dates in threads: GDAL decodes without the GIL, and each date has files of its own
        # (a dataset is never read from two threads at once).
        reads = self._pool.map(lambda d: self._read_date(d, self._views[d], window), range(dates))
        for d, bands in enumerate(reads):
            for band in self.needed:
                numbers[d, BANDS.index(band)] = bands[band]
                clear[d] &= bands[band] != 0
            if "SCL" in bands:
                clear[d] &= ~np.isin(bands["SCL"], NOT_CLEAR_SCL)
        offset = np.array([r.offset for r in self.radiometry], dtype=np.float64)
        scale = np.array([r.scale for r in self.radiometry], dtype=np.float64)
        return Block(window, numbers, offset, scale, clear)

    def _read_date(self, date: int, views: dict[Path, WarpedVRT], window: Window) -> dict:
        """Each band of one date inside ``window``, every file read once for all its bands."""
        wanted = defaultdict(list)
        for band, source in self._sources[date].items():
            wanted[source.path].append((band, source.index or 1))
        bands = {}
        for path, pairs in wanted.items():
            stack = self._read_bands(views[path], [index for _, index in pairs], window)
            bands.update({band: layer for (band, _), layer in zip(pairs, stack, strict=True)})
        return bands

    @staticmethod
    def _read_bands(view, indexes: list[int], window: Window) -> np.ndarray:
        try:
            return view.read(indexes, window=window)
        except (RasterioError, OSError) as error:
            detail = first_line(error)
            name = view.src_dataset.name if isinstance(view, WarpedVRT) else view.name
            raise CroplandError(
                f"{name}: unreadable at rows {window.row_off}.."
                f"{window.row_off + window.height} ({detail}); the file may be truncated"
            ) from None
