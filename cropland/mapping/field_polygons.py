"""The field polygons that ``fields=`` names, read and checked before any mapping starts.

A GeoPackage, GeoJSON or Shapefile (anything GDAL reads as vector data, through pyogrio) of
one layer, or the layer ``fields_layer=`` names. The file is refused whole, naming what is
wrong, rather than answered in part: no CRS, a geometry that is not a polygon or not valid,
more features or vertices than a map's fields can plausibly have, a column that an answer
would overwrite, or no polygon reaching the scene. It is read in chunks of features and the
vertices counted as it goes, so a crafted file is refused once past the limit instead of
being read whole first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError, FeatureError, FieldError, GeometryError

from cropland.errors import CroplandError, short_reason
from cropland.mapping.scene_reader import Grid

# More fields than any one scene holds (a Sentinel-2 tile is 1.2e6 ha), and more vertices than
# their outlines need: past these a file is a mistake or hostile, and reading it whole would
# cost memory and time without bound.
MAX_FEATURES = 1_000_000
MAX_VERTICES = 50_000_000
# The columns the answers are written in; a file that has one already is refused.
ANSWER_COLUMNS = ("predicted", "probability", "pixels", "months")
# Features read at a time while counting vertices.
_CHUNK = 100_000
# Feature ids named in a message.
_NAMED = 5
_EXPECTED = "expected a GeoPackage, GeoJSON or Shapefile of field polygons"
_READ_ERRORS = (DataSourceError, DataLayerError, FeatureError, FieldError, GeometryError, OSError)


@dataclass
class FieldPolygons:
    """A fields file as read: ``table`` keeps the polygons and attributes in the file's own
    CRS and order; ``fids`` are the features' ids as GDAL numbers them (for messages)."""

    path: Path
    layer: str
    table: gpd.GeoDataFrame
    fids: np.ndarray


def named_fids(fids: np.ndarray) -> str:
    """The first few of ``fids``, for a message."""
    shown = ", ".join(str(fid) for fid in fids[:_NAMED])
    return f"fid {shown}" + (", ..." if len(fids) > _NAMED else "")


def read_fields(path: Path, layer: str | None) -> FieldPolygons:
    """The polygons of ``path`` (its one layer, or ``layer``), refused with one line when the
    file cannot be answered per field."""
    where = f"fields={path}"
    if not path.exists():
        raise CroplandError(f"{where}: no such file; {_EXPECTED}")
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except _READ_ERRORS as error:
        raise CroplandError(
            f"{where}: not a file GDAL reads ({short_reason(error)}); {_EXPECTED}"
        ) from None
    if layer is None and len(layers) != 1:
        listed = ", ".join(layers[:10]) + (", ..." if len(layers) > 10 else "")
        raise CroplandError(
            f"{where} holds {len(layers)} layers ({listed or 'none'}); expected one, or "
            "fields_layer=<name> to choose which"
        )
    layer = layers[0] if layer is None else str(layer)
    if layer not in layers:
        raise CroplandError(
            f"fields_layer={layer}: {path} has no such layer; it has {', '.join(layers[:10])}"
        )
    try:
        info = pyogrio.read_info(path, layer=layer, force_feature_count=True)
    except _READ_ERRORS as error:
        raise CroplandError(
            f"{where}: not a file GDAL reads ({short_reason(error)}); {_EXPECTED}"
        ) from None
    _check_layer(where, info)
    chunks, vertices = [], 0
    for start in range(0, info["features"], _CHUNK):
        try:
            chunk = pyogrio.read_dataframe(
                path, layer=layer, skip_features=start, max_features=_CHUNK, fid_as_index=True
            )
        except _READ_ERRORS as error:
            raise CroplandError(
                f"{where}: unreadable ({short_reason(error)}); {_EXPECTED}"
            ) from None
        vertices += int(shapely.get_num_coordinates(chunk.geometry.values).sum())
        if vertices > MAX_VERTICES:
            raise CroplandError(
                f"{where}: more than {MAX_VERTICES:,} vertices; expected field outlines "
                "(simplify them, or split the file by area)"
            )
        chunks.append(chunk)
    table = pd.concat(chunks) if len(chunks) > 1 else chunks[0]
    fids = table.index.to_numpy()
    _check_geometries(where, table.geometry.values, fids)
    return FieldPolygons(path, layer, table.reset_index(drop=True), fids)


def _check_layer(where: str, info: dict) -> None:
    if info["geometry_type"] is None:
        raise CroplandError(f"{where}: a table without geometries; {_EXPECTED}")
    if info["crs"] is None:
        raise CroplandError(
            f"{where}: no coordinate reference system; expected polygons whose CRS the file "
            "says (a Shapefile's .prj, a GeoPackage's srs_id)"
        )
    if info["features"] == 0:
        raise CroplandError(f"{where}: no features; {_EXPECTED}")
    if info["features"] > MAX_FEATURES:
        raise CroplandError(
            f"{where}: {info['features']:,} features, more than {MAX_FEATURES:,}; expected the "
            "fields of one scene (split the file by area)"
        )
    taken = [name for name in info["fields"] if str(name).lower() in ANSWER_COLUMNS]
    if taken:
        raise CroplandError(
            f"{where}: has the column(s) {', '.join(taken)}, which the answers are written in "
            f"({', '.join(ANSWER_COLUMNS)}); rename or drop them"
        )


def _check_geometries(where: str, geometries: np.ndarray, fids: np.ndarray) -> None:
    polygon = np.isin(
        shapely.get_type_id(geometries),
        [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON],
    )
    if not polygon.all():
        kinds = sorted({"no geometry" if g is None else g.geom_type for g in geometries[~polygon]})
        raise CroplandError(
            f"{where}: {int((~polygon).sum())} feature(s) are not polygons "
            f"({named_fids(fids[~polygon])}: {', '.join(kinds)}); expected Polygon or "
            "MultiPolygon geometries only"
        )
    valid = shapely.is_valid(geometries)
    if not valid.all():
        first = shapely.is_valid_reason(geometries[~valid][0])
        raise CroplandError(
            f"{where}: {int((~valid).sum())} invalid polygon(s) ({named_fids(fids[~valid])}; "
            f"the first: {first}); expected valid polygons (repair them first: "
            "shapely.make_valid, ogr2ogr -makevalid or QGIS's Fix geometries)"
        )


def fields_on_grid(fields: FieldPolygons, grid: Grid) -> np.ndarray:
    """The polygons in the scene's CRS; refused when none of them reaches the scene."""
    on_grid = fields.table.geometry.to_crs(grid.crs).values
    left, top = grid.transform.c, grid.transform.f
    right = left + grid.width * grid.transform.a
    bottom = top + grid.height * grid.transform.e
    scene = shapely.box(min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    if not shapely.intersects(on_grid, scene).any():
        source_crs = fields.table.crs.to_string()
        raise CroplandError(
            f"fields={fields.path}: none of its {len(on_grid)} polygons reaches the scene "
            f"(bounds {tuple(round(v) for v in scene.bounds)} in {grid.crs.to_string()}; the "
            f"polygons are in {source_crs}); expected fields within the scene mapped"
        )
    return np.asarray(on_grid)
