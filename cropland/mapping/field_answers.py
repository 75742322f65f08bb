"""Answers per field from a written map: the class of the mean probability over the pixels
whose centre is inside the polygon, that mean probability, how many mapped pixels it has and
the months that entered the windows covering them.

The map's probabilities (percent per class) and months (a bitmask per pixel) are read one
GeoTIFF tile at a time; each polygon reaching a tile is rasterized over its own bounding box
there, so memory stays one tile plus a few numbers per field, whatever the fields' sizes, and
overlapping polygons each get all their pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import shapely
from rasterio.features import geometry_mask
from rasterio.transform import rowcol
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from cropland.mapping.field_polygons import FieldPolygons, named_fids
from cropland.mapping.map_files import NODATA
from cropland.mapping.monthly_windows import months_of_bits

# The layer of the fields GeoPackage.
LAYER = "fields"


@dataclass
class FieldAnswers:
    """Per field, in the order of the file: ``pixels`` mapped, the mean percent per class
    over them ``(fields, classes)`` (NaN without pixels) and the months' bitmask."""

    pixels: np.ndarray
    mean_percent: np.ndarray
    month_bits: np.ndarray

    @property
    def without_pixels(self) -> np.ndarray:
        return self.pixels == 0


def answer_fields(geometries: np.ndarray, probabilities: Path, months: Path) -> FieldAnswers:
    """Answers for ``geometries`` (in the map's CRS) from the map's ``probabilities`` GeoTIFF
    and the ``months`` GeoTIFF beside it (same grid and tiling)."""
    tree = shapely.STRtree(geometries)
    with rasterio.open(probabilities) as percent_file, rasterio.open(months) as months_file:
        sums = np.zeros((len(geometries), percent_file.count), dtype=np.int64)
        pixels = np.zeros(len(geometries), dtype=np.int64)
        bits = np.zeros(len(geometries), dtype=np.uint16)
        transform = percent_file.transform
        spans = _pixel_spans(geometries, transform, percent_file.height, percent_file.width)
        for _, tile in percent_file.block_windows(1):
            candidates = tree.query(shapely.box(*window_bounds(tile, transform)))
            if len(candidates) == 0:
                continue
            percent = percent_file.read(window=tile)
            seen = months_file.read(1, window=tile)
            mapped = percent[0] != NODATA
            for index in candidates:
                top, left, bottom, right = spans[index]
                rows = slice(max(top - tile.row_off, 0), min(bottom - tile.row_off, tile.height))
                cols = slice(max(left - tile.col_off, 0), min(right - tile.col_off, tile.width))
                if rows.start >= rows.stop or cols.start >= cols.stop:
                    continue
                inside = geometry_mask(
                    [geometries[index]],
                    out_shape=(rows.stop - rows.start, cols.stop - cols.start),
                    transform=window_transform(
                        Window(tile.col_off + cols.start, tile.row_off + rows.start, 1, 1),
                        transform,
                    ),
                    invert=True,
                )
                inside &= mapped[rows, cols]
                count = int(inside.sum())
                if count == 0:
                    continue
                pixels[index] += count
                sums[index] += percent[:, rows, cols][:, inside].sum(axis=1, dtype=np.int64)
                bits[index] |= np.bitwise_or.reduce(seen[rows, cols][inside])
    mean = np.full(sums.shape, np.nan)
    np.divide(sums, pixels[:, None], out=mean, where=pixels[:, None] > 0)
    return FieldAnswers(pixels, mean, bits)


def _pixel_spans(geometries: np.ndarray, transform, height: int, width: int) -> np.ndarray:
    """Per geometry, the pixels of the grid its bounding box reaches: ``(fields, 4)`` first row,
    first column, row and column past the last, within the grid (north-up)."""
    min_x, min_y, max_x, max_y = np.nan_to_num(shapely.bounds(geometries)).T
    top, left = rowcol(transform, min_x, max_y, op=np.floor)
    bottom, right = rowcol(transform, max_x, min_y, op=np.ceil)
    rows = np.clip(np.stack([top, bottom]), 0, height)
    cols = np.clip(np.stack([left, right]), 0, width)
    return np.stack([rows[0], cols[0], rows[1], cols[1]], axis=1).astype(np.int64)


def answered_table(
    fields: FieldPolygons, answers: FieldAnswers, classes: list[str]
) -> gpd.GeoDataFrame:
    """The fields as read (own CRS, attributes, order) with the answer columns; a field
    without a mapped pixel has 0 pixels and the other answers empty."""
    table = fields.table.copy()
    has = ~answers.without_pixels
    best = np.where(has, np.nan_to_num(answers.mean_percent, nan=-1.0).argmax(axis=1), 0)
    top = answers.mean_percent[np.arange(len(best)), best]
    table["predicted"] = [classes[b] if h else None for b, h in zip(best, has, strict=True)]
    table["probability"] = np.round(top / 100, 4)
    table["pixels"] = answers.pixels
    table["months"] = [
        ",".join(map(str, months_of_bits(int(b)))) if h else None
        for b, h in zip(answers.month_bits, has, strict=True)
    ]
    return table.set_geometry(fields.table.geometry.name)


def write_field_files(table: gpd.GeoDataFrame, geopackage: Path, csv: Path) -> None:
    """The answered fields as a GeoPackage and, without geometry, as CSV (both at temporary
    paths the caller renames)."""
    pyogrio.write_dataframe(table, geopackage, layer=LAYER, driver="GPKG")
    table.drop(columns=table.geometry.name).to_csv(csv, index=False)


def without_pixels_line(fields: FieldPolygons, answers: FieldAnswers) -> str | None:
    """One line on the fields left without an answer, or None when every field has one."""
    missing = answers.without_pixels
    if not missing.any():
        return None
    return (
        f"fields: {int(missing.sum())} of {len(missing)} polygons in {fields.path} have no "
        f"mapped pixel (outside the scene, smaller than a pixel, or nodata); kept with empty "
        f"answers ({named_fids(fields.fids[missing])})"
    )
