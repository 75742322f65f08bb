"""The map's GeoTIFFs: a class map, per-class probabilities and the top probability, each a
Cloud-Optimized GeoTIFF in the scene's CRS and grid, with overviews.

Finished blocks are kept as files in a parts folder beside the output (so a stopped run goes
on from them); the GeoTIFFs are assembled from those at the end, block by block, into
temporary files renamed into place. Where answers per field are asked for, the months of each
pixel's windows are assembled too, into a GeoTIFF that stays in the parts folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from matplotlib import colormaps
from rasterio.windows import Window

from cropland.mapping.scene_reader import Grid

NODATA = 255
_TILE = 512


def class_colours(classes: list[str]) -> dict[int, tuple[int, int, int, int]]:
    """A fixed colour per class index (matplotlib's tab10, then tab20), for the colour table."""
    palette = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    colours = {}
    for index in range(len(classes)):
        r, g, b, _ = palette(index % palette.N)
        colours[index] = (round(r * 255), round(g * 255), round(b * 255), 255)
    colours[NODATA] = (0, 0, 0, 0)
    return colours


def _profile(grid: Grid, count: int, dtype: str = "uint8", nodata: int = NODATA) -> dict:
    return {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": _TILE,
        "blockysize": _TILE,
        "compress": "deflate",
    }


class MapWriter:
    """Writes blocks into three plain tiled GeoTIFFs, then copies each to a COG; with
    ``month_bits``, also the months of each pixel's windows (uint16 bitmask, 0 where unmapped)
    into ``months_path``, which is never copied out."""

    def __init__(self, folder: Path, grid: Grid, classes: list[str], month_bits: bool) -> None:
        self.classes = classes
        self.paths = {
            "classes": folder / "classes.tif",
            "probabilities": folder / "probabilities.tif",
            "confidence": folder / "confidence.tif",
        }
        counts = {"classes": 1, "probabilities": len(classes), "confidence": 1}
        self._files = {
            name: rasterio.open(path, "w", **_profile(grid, counts[name]))
            for name, path in self.paths.items()
        }
        self.months_path = folder / "months.tif" if month_bits else None
        self._months = None
        if self.months_path is not None:
            profile = _profile(grid, 1, dtype="uint16", nodata=0)
            self._months = rasterio.open(self.months_path, "w", **profile)
        classes_file = self._files["classes"]
        classes_file.write_colormap(1, class_colours(classes))
        classes_file.set_band_description(1, "crop type")
        classes_file.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(classes)})
        for band, name in enumerate(classes, start=1):
            self._files["probabilities"].set_band_description(band, f"{name} probability (%)")
        self._files["confidence"].set_band_description(1, "top class probability (%)")

    def write(self, window: Window, parts: dict[str, np.ndarray]) -> None:
        self._files["classes"].write(parts["classes"], 1, window=window)
        self._files["probabilities"].write(parts["probabilities"], window=window)
        self._files["confidence"].write(parts["confidence"], 1, window=window)
        if self._months is not None:
            self._months.write(parts["month_bits"], 1, window=window)

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        if self._months is not None:
            self._months.close()

    def copy_as_cogs(self, destinations: dict[str, Path]) -> None:
        """Each plain GeoTIFF as a Cloud-Optimized GeoTIFF at its (temporary) destination:
        nearest-neighbour overviews for classes, averaged for probabilities."""
        for name, source in self.paths.items():
            resampling = "NEAREST" if name == "classes" else "AVERAGE"
            rasterio.shutil.copy(
                source,
                destinations[name],
                driver="COG",
                compress="DEFLATE",
                overview_resampling=resampling,
                blocksize=_TILE,
            )
            os.remove(source)


def block_parts(
    probabilities: np.ndarray, covered: np.ndarray, month_bits: np.ndarray
) -> dict[str, np.ndarray]:
    """uint8 class map, percent probabilities and percent confidence of a block, NODATA where
    no window reached, and the months of the windows that reached each pixel."""
    classes = probabilities.argmax(axis=0).astype(np.uint8)
    percent = np.rint(probabilities * 100).astype(np.uint8)
    confidence = np.rint(probabilities.max(axis=0) * 100).astype(np.uint8)
    classes[~covered] = NODATA
    percent[:, ~covered] = NODATA
    confidence[~covered] = NODATA
    return {
        "classes": classes,
        "probabilities": percent,
        "confidence": confidence,
        "month_bits": np.where(covered, month_bits, 0).astype(np.uint16),
    }
