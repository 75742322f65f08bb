"""scripts/make_scene.py: a synthetic Sentinel-2 scene in the band-folder layout map.py reads,
with clouds its SCL marks, field polygons and a truth raster that agree, the same bytes from
the same seed, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cropland.data.layout import CLASSES, MONTHS
from tests.extras import needs_extra
from tests.refusals import assert_refused
from tests.script_runs import call_script

pytestmark = needs_extra("maps")

SIZE = 130
TEN_METRE = ("B02", "B03", "B04", "B08")
TWENTY_METRE = ("B05", "B06", "SCL")
CLEAR_SCL = {4, 5}
CLOUD_SCL = {8, 9}


def make(dst: Path, *settings: str):
    return call_script(
        "make_scene.py",
        f"dst={dst}",
        "progress=false",
        f"hydra.run.dir={dst.parent / ('run_' + dst.name)}",
        *settings,
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("made") / "scene_demo"
    result = make(dst, f"size={SIZE}", "seed=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == json.loads((dst / "scene.json").read_text())
    return dst


def read(path: Path):
    import rasterio

    with rasterio.open(path) as dataset:
        return dataset.read(1), dataset


def date_folders(scene: Path) -> list[Path]:
    return sorted((scene / "scene").iterdir())


def test_bands_per_date_at_their_resolutions_with_the_l1c_tag(scene):
    import rasterio

    folders = date_folders(scene)
    months = [int(folder.name[4:6]) for folder in folders]
    assert sorted(set(months)) == list(MONTHS) and min(map(months.count, MONTHS)) >= 2
    for folder in folders:
        assert sorted(p.stem for p in folder.iterdir()) == sorted(TEN_METRE + TWENTY_METRE)
        for band in TEN_METRE + TWENTY_METRE:
            with rasterio.open(folder / f"{band}.tif") as dataset:
                side, pixel = (SIZE, 10.0) if band in TEN_METRE else ((SIZE + 1) // 2, 20.0)
                assert (dataset.width, dataset.height) == (side, side), band
                assert dataset.transform.a == pixel and dataset.transform.e == -pixel
                assert dataset.crs.to_epsg() == 32613
                assert dataset.dtypes[0] == ("uint8" if band == "SCL" else "uint16")
                assert dataset.tags()["PROCESSING_LEVEL"] == "L1C"
    first, _ = read(folders[0] / "B04.tif")
    reflectance = first / 10000
    assert 0.01 < reflectance.mean() < 0.5 and first.min() > 0  # 0 is no data


def test_scl_marks_the_clouds_and_the_bands_show_them_bright(scene):
    summary = json.loads((scene / "scene.json").read_text())
    assert summary["cloudy_dates"], summary
    seen = set()
    for folder in date_folders(scene):
        scl, _ = read(folder / "SCL.tif")
        codes = set(np.unique(scl).tolist())
        seen |= codes
        assert codes <= CLEAR_SCL | CLOUD_SCL | {3}, codes
        cloudy = scl.repeat(2, 0).repeat(2, 1)[:SIZE, :SIZE] == 9
        if folder.name not in summary["cloudy_dates"]:
            assert not codes & CLOUD_SCL, folder.name
        elif cloudy.any() and (~cloudy).any():
            blue, _ = read(folder / "B02.tif")
            assert blue[cloudy].mean() > 1.5 * blue[~cloudy].mean(), folder.name
    assert seen >= CLEAR_SCL and seen & CLOUD_SCL


def test_fields_and_truth_agree(scene):
    import geopandas
    from rasterio.features import rasterize

    fields = geopandas.read_file(scene / "fields.gpkg", layer="fields")
    assert list(fields.columns) == ["field_id", "crop", "geometry"]
    assert fields.crs.to_epsg() == 32613
    assert fields["field_id"].is_unique and set(fields["crop"]) <= set(CLASSES)
    assert (fields.geometry.geom_type == "Polygon").all()
    truth, dataset = read(scene / "truth.tif")
    assert truth.dtype == np.uint8 and dataset.nodata == 255
    _, band = read(date_folders(scene)[0] / "B02.tif")
    assert (dataset.transform, dataset.shape, dataset.crs) == (band.transform, band.shape, band.crs)
    shapes = zip(fields.geometry, fields["crop"].map(CLASSES.index), strict=True)
    drawn = rasterize(shapes, out_shape=truth.shape, transform=dataset.transform, fill=255)
    np.testing.assert_array_equal(drawn, truth)
    assert 0 < (truth == 255).mean() < 0.5  # verges and grass outside the fields


def test_the_same_seed_gives_the_same_bytes(tmp_path, scene):
    again = tmp_path / "again"
    other = tmp_path / "other"
    assert make(again, f"size={SIZE}", "seed=1").returncode == 0
    assert make(other, f"size={SIZE}", "seed=2").returncode == 0
    rasters = sorted(p.relative_to(scene) for p in scene.rglob("*.tif"))
    assert rasters == sorted(p.relative_to(again) for p in again.rglob("*.tif"))
    for path in rasters:
        assert (scene / path).read_bytes() == (again / path).read_bytes(), path
    assert (scene / "truth.tif").read_bytes() != (other / "truth.tif").read_bytes()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (["size=64"], "size=64: expected a whole number of pixels from 65"),
        (["size=20001"], "to 20000"),
        (["seed=-1"], "seed=-1"),
        (["sise=100"], "did you mean size?"),
    ],
)
def test_bad_settings_are_refused(tmp_path, settings, expected):
    assert_refused(make(tmp_path / "dst", *settings), expected)
    assert not (tmp_path / "dst").exists()


def test_help_says_what_the_script_does():
    text = call_script("make_scene.py", "--help").stdout
    assert text.startswith("make_scene.py: write a synthetic Sentinel-2 scene") and "size=" in text


def test_a_non_empty_dst_is_replaced_only_when_it_is_a_scene(tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "notes.txt").write_text("mine")
    assert_refused(make(dst, "size=65"), "exists and is not empty", "overwrite=true")
    assert_refused(make(dst, "size=65", "overwrite=true"), "is not a synthetic scene")
    assert (dst / "notes.txt").read_text() == "mine"
    (dst / "notes.txt").unlink()
    assert make(dst, "size=65").returncode == 0
    assert_refused(make(dst, "size=66"), "overwrite=true")
    assert make(dst, "size=66", "overwrite=true").returncode == 0
    assert json.loads((dst / "scene.json").read_text())["size"] == 66
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "run_dst"]  # no temp left
    file = tmp_path / "file"
    file.write_text("x")
    assert_refused(make(file, "size=65"), "is a file")


def test_map_runs_on_the_scene(tmp_path, trained_run, scene):
    result = call_script(
        "map.py",
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={scene / 'scene'}",
        f"output={tmp_path / 'map.tif'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "progress=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    classes, dataset = read(tmp_path / "map.tif")
    truth, truth_dataset = read(scene / "truth.tif")
    assert classes.shape == truth.shape and dataset.transform == truth_dataset.transform
    assert (classes != 255).mean() > 0.5  # the clouds leave most windows their months
