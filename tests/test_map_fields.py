"""scripts/map.py fields=: an answer per polygon, checked against the written probabilities
raster by hand; the polygons' attributes kept; polygons in another CRS; polygons without a
mapped pixel kept and reported; months seen per field; and the refusals of bad field files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.band_scene import CRS, DATES, ORIGIN, write_band, write_scene
from tests.extras import needs_extra
from tests.map_runs import run_map
from tests.refusals import assert_refused

pytestmark = needs_extra("maps")

SIZE = 150
# August is cloudy on the scene's right from this column on (10 m pixels).
AUGUST_CLOUD_FROM = 76
SEASON = sorted({int(date[4:6]) for date in DATES})
ANSWERS = ["predicted", "probability", "pixels", "months"]


def pixel_box(rows: tuple[int, int], cols: tuple[int, int]):
    """A rectangle whose edges are pixel edges of the scene's grid."""
    import shapely

    (r0, r1), (c0, c1) = rows, cols
    x, y = ORIGIN
    return shapely.box(x + c0 * 10, y - r1 * 10, x + c1 * 10, y - r0 * 10)


def scene_point(row: float, col: float) -> tuple[float, float]:
    return ORIGIN[0] + col * 10, ORIGIN[1] - row * 10


def field_table():
    """Fields on the scene: two rectangles (one left of the August cloud, one in it), a kite
    overlapping the second (so that both count the shared pixels), one in the cloud that hides
    every date at the top left, and one beyond the scene."""
    import geopandas as gpd
    import shapely

    kite = shapely.Polygon(
        [scene_point(*p) for p in [(40.3, 60.2), (95.7, 128.4), (135.1, 110.6), (88.2, 70.9)]]
    )
    geometries = [
        pixel_box((60, 90), (40, 60)),
        pixel_box((100, 140), (100, 140)),
        kite,
        pixel_box((5, 25), (5, 25)),
        pixel_box((300, 320), (0, 10)),
    ]
    names = ["left", "right", "kite", "cloud", "outside"]
    return gpd.GeoDataFrame(
        {"name": names, "crop_code": [11, 12, 13, 14, 15]}, geometry=geometries, crs=CRS
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    root = write_scene(tmp_path_factory.mktemp("scene") / "scene", size=SIZE, cloudy_corner=40)
    coarse = (SIZE + 1) // 2
    for date in DATES:
        if date[4:6] == "08":
            scl = np.full((coarse, coarse), 4, dtype=np.uint8)
            scl[:20, :20] = 9
            scl[:, AUGUST_CLOUD_FROM // 2 :] = 9
            write_band(root / date / "SCL.tif", scl, 20.0)
    return root


@pytest.fixture(scope="module")
def fields_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fields") / "fields.gpkg"
    field_table().to_file(path, layer="parcels")
    return path


@pytest.fixture(scope="module")
def mapped(tmp_path_factory, trained_run, scene, fields_file):
    folder = tmp_path_factory.mktemp("mapped")
    result = run_map(folder, trained_run.best_checkpoint, scene, f"fields={fields_file}")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result


def read_answers(path: Path):
    import geopandas as gpd

    return gpd.read_file(path)


def hand_answers(folder: Path, geometries) -> list[dict]:
    """Per polygon, from the written probabilities COG: the pixels whose centre is inside
    (rasterized over the whole scene), those not nodata, their mean percent per class."""
    import rasterio
    from rasterio.features import rasterize

    with rasterio.open(folder / "map_probabilities.tif") as dataset:
        percent, transform, nodata = dataset.read(), dataset.transform, dataset.nodata
    classes = json.loads((folder / "map.json").read_text())["classes"]
    answers = []
    for geometry in geometries:
        inside = rasterize([(geometry, 1)], out_shape=(SIZE, SIZE), transform=transform) == 1
        inside &= percent[0] != nodata
        if not inside.any():
            answers.append({"predicted": None, "pixels": 0})
            continue
        mean = percent[:, inside].sum(axis=1) / inside.sum()
        answers.append(
            {
                "predicted": classes[int(mean.argmax())],
                "probability": round(mean.max() / 100, 4),
                "pixels": int(inside.sum()),
            }
        )
    return answers


def test_answers_are_the_mean_over_the_pixels_inside(mapped):
    folder, _ = mapped
    answered = read_answers(folder / "map_fields.gpkg")
    expected = hand_answers(folder, field_table().geometry)
    for (_, row), hand in zip(answered.iterrows(), expected, strict=True):
        assert row["pixels"] == hand["pixels"], row["name"]
        if hand["pixels"]:
            assert row["predicted"] == hand["predicted"], row["name"]
            assert row["probability"] == pytest.approx(hand["probability"], abs=1e-9)
        else:
            assert row[["predicted", "probability", "months"]].isna().all(), row["name"]
    # The rectangles by plain slicing of the raster: every pixel of them has its centre inside.
    import rasterio

    with rasterio.open(folder / "map_probabilities.tif") as dataset:
        right = dataset.read()[:, 100:140, 100:140]
    mapped_right = right[0] != 255
    assert mapped_right.all() and answered.loc[1, "pixels"] == mapped_right.size


def test_months_seen_are_those_of_the_windows_over_the_field(mapped):
    folder, _ = mapped
    answered = read_answers(folder / "map_fields.gpkg").set_index("name")
    assert answered.loc["left", "months"] == ",".join(map(str, SEASON))
    without_august = [month for month in SEASON if month != 8]
    assert answered.loc["right", "months"] == ",".join(map(str, without_august))


def test_attributes_crs_and_order_are_kept(mapped, fields_file):
    import geopandas as gpd
    import pandas as pd

    folder, _ = mapped
    original = gpd.read_file(fields_file)
    answered = read_answers(folder / "map_fields.gpkg")
    assert answered.crs == original.crs
    assert list(answered.columns) == ["name", "crop_code", *ANSWERS, "geometry"]
    pd.testing.assert_frame_equal(answered[["name", "crop_code"]], original[["name", "crop_code"]])
    assert answered.geometry.geom_equals(original.geometry).all()
    table = pd.read_csv(folder / "map_fields.csv")
    assert list(table.columns) == ["name", "crop_code", *ANSWERS]
    pd.testing.assert_series_equal(table["pixels"], answered["pixels"], check_dtype=False)
    assert table["months"].isna().tolist() == answered["months"].isna().tolist()


def test_fields_without_pixels_are_kept_and_reported(mapped, fields_file):
    import pyogrio

    folder, result = mapped
    fids = pyogrio.read_dataframe(fields_file, fid_as_index=True).index
    sidecar = json.loads((folder / "map.json").read_text())["fields"]
    assert sidecar["file"] == str(fields_file) and sidecar["layer"] == "parcels"
    assert sidecar["count"] == 5 and sidecar["without_pixels"] == 2
    lines = [line for line in result.stdout.splitlines() if line.startswith("fields:")]
    assert len(lines) == 1
    assert "2 of 5 polygons" in lines[0] and f"fid {fids[3]}, {fids[4]}" in lines[0]
    assert not (folder / "map.tif.parts").exists()
    assert not list(folder.glob("*months*"))


def test_polygons_in_another_crs_and_blocks_give_the_same_answers(
    tmp_path, mapped, trained_run, scene
):
    """The rectangles in EPSG:4326 (edges densified), mapped in blocks of one window, in a
    GeoJSON: the same answers as in the scene's CRS in one block."""
    import geopandas as gpd

    folder, _ = mapped
    rectangles = field_table().iloc[[0, 1, 4]]
    geographic = rectangles.set_geometry(rectangles.geometry.segmentize(10)).to_crs("EPSG:4326")
    geographic.to_file(tmp_path / "fields.geojson")
    result = run_map(
        tmp_path,
        trained_run.best_checkpoint,
        scene,
        f"fields={tmp_path / 'fields.geojson'}",
        "block_size=65",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answered = gpd.read_file(tmp_path / "map_fields.gpkg")
    assert answered.crs.to_epsg() == 4326
    earlier = read_answers(folder / "map_fields.gpkg").iloc[[0, 1, 4]].reset_index(drop=True)
    assert answered[ANSWERS].equals(earlier[ANSWERS])


def test_a_layer_is_chosen_by_name(tmp_path, trained_run, scene, fields_file):
    import geopandas as gpd

    path = tmp_path / "two.gpkg"
    table = field_table()
    table.iloc[[1]].to_file(path, layer="mine")
    table.to_file(path, layer="theirs")
    overrides = (f"fields={path}", "fields_layer=mine")
    result = run_map(tmp_path, trained_run.best_checkpoint, scene, *overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    answered = gpd.read_file(tmp_path / "map_fields.gpkg")
    assert answered["name"].tolist() == ["right"]
    assert "fields:" not in result.stdout


def test_block_months_blend_as_a_union():
    from cropland.mapping.blending import BlockBlend
    from cropland.mapping.monthly_windows import month_bits, months_of_bits

    blend = BlockBlend(2, 0, 0, 10, 10, 6)
    chosen = np.array([[0, -1, 1], [-1, 2, 3]])
    bits = month_bits(chosen, (6, 7, 8))
    blend.add(np.array([[0, 0], [4, 4]]), np.full((2, 2), 0.5), bits)
    assert months_of_bits(int(blend.month_bits[0, 0])) == [6, 8]
    assert months_of_bits(int(blend.month_bits[9, 9])) == [7, 8]
    assert months_of_bits(int(blend.month_bits[5, 5])) == [6, 7, 8]


def test_finished_blocks_keep_the_months(tmp_path):
    from cropland.mapping.finished_blocks import FinishedBlocks

    blocks = FinishedBlocks(tmp_path / "parts", {"run": 1}, overwrite=False)
    parts = {
        "classes": np.zeros((4, 5), dtype=np.uint8),
        "probabilities": np.zeros((3, 4, 5), dtype=np.uint8),
        "confidence": np.zeros((4, 5), dtype=np.uint8),
        "windows_per_month": np.arange(5, dtype=np.int64),
        "month_bits": np.full((4, 5), 0b1011100000, dtype=np.uint16),
    }
    blocks.save(0, parts)
    np.testing.assert_array_equal(blocks.load(0, (4, 5), 3, 5)["month_bits"], parts["month_bits"])
    # A block kept without months (an earlier version's) is mapped again.
    with open(tmp_path / "parts" / "block_000001.npz", "wb") as handle:
        np.savez_compressed(handle, **{k: v for k, v in parts.items() if k != "month_bits"})
    assert blocks.load(1, (4, 5), 3, 5) is None


def _write_bad_fields(path: Path, damage: str, monkeypatch) -> Path:
    import geopandas as gpd
    import shapely

    from cropland.mapping import field_polygons

    table = field_table()
    if damage == "missing":
        return path.with_name("nowhere.gpkg")
    if damage == "unreadable":
        path.write_bytes(b"not a GeoPackage at all")
        return path
    if damage == "no_crs":
        table.set_crs(None, allow_override=True).to_file(path.with_suffix(".shp"))
        return path.with_suffix(".shp")
    if damage == "points":
        table.loc[2, "geometry"] = shapely.Point(scene_point(50, 50))
    elif damage == "invalid":
        bowtie = [scene_point(*p) for p in [(50, 50), (60, 60), (50, 60), (60, 50)]]
        table.loc[2, "geometry"] = shapely.Polygon(bowtie)
    elif damage == "two_layers":
        table.to_file(path, layer="other")
    elif damage == "too_many":
        monkeypatch.setattr(field_polygons, "MAX_FEATURES", 4)
    elif damage == "too_many_vertices":
        monkeypatch.setattr(field_polygons, "_CHUNK", 1)
        monkeypatch.setattr(field_polygons, "MAX_VERTICES", 12)
    elif damage == "answer_column":
        table["Probability"] = 0.5
    elif damage == "away":
        table = gpd.GeoDataFrame(table, geometry=table.geometry.translate(50_000, 0))
    table.to_file(path, layer="parcels")
    return path


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("missing", "no such file"),
        ("unreadable", "not a file GDAL reads"),
        ("no_crs", "no coordinate reference system"),
        ("points", "1 feature(s) are not polygons (fid 3: Point)"),
        ("invalid", "1 invalid polygon(s) (fid 3; the first: Self-intersection"),
        ("two_layers", "); expected one, or fields_layer=<name> to choose which"),
        ("too_many", "5 features, more than 4"),
        ("too_many_vertices", "more than 12 vertices"),
        ("answer_column", "has the column(s) Probability, which the answers are written in"),
        ("away", "none of its 5 polygons reaches the scene"),
    ],
)
def test_bad_field_files_are_refused(tmp_path, trained_run, scene, damage, expected, monkeypatch):
    path = _write_bad_fields(tmp_path / "fields.gpkg", damage, monkeypatch)
    result = run_map(tmp_path, trained_run.best_checkpoint, scene, f"fields={path}")
    line = assert_refused(result, expected)
    assert f"fields={path}" in line
    assert not list(tmp_path.glob("map*"))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("fields_layer=nope", "fields_layer=nope: {fields} has no such layer; it has parcels"),
        ("fields=null", "fields_layer=nope without fields="),
    ],
)
def test_bad_field_settings_are_refused(
    tmp_path, trained_run, scene, fields_file, setting, expected
):
    overrides = [f"fields={fields_file}", "fields_layer=nope", setting]
    result = run_map(tmp_path, trained_run.best_checkpoint, scene, *overrides)
    assert_refused(result, expected.format(fields=fields_file))


def test_existing_field_answers_are_left_alone(tmp_path, trained_run, scene, fields_file):
    (tmp_path / "map_fields.csv").write_text("mine")
    result = run_map(tmp_path, trained_run.best_checkpoint, scene, f"fields={fields_file}")
    assert_refused(result, "map_fields.csv", "already exists", "overwrite=true")
    assert (tmp_path / "map_fields.csv").read_text() == "mine"
    assert not (tmp_path / "map.tif").exists()
