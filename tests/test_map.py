"""scripts/map.py on small scenes in the band-folder layout: the outputs a GIS opens, blocks that
join without seams, the dataset's encoding to the byte, and refusals of bad scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.band_scene import write_band, write_scene
from tests.extras import needs_extra
from tests.map_runs import read, run_map
from tests.refusals import assert_refused

pytestmark = needs_extra("maps")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return write_scene(tmp_path_factory.mktemp("scene") / "scene", size=150, cloudy_corner=40)


def test_map_writes_cogs_in_the_scenes_grid(tmp_path, trained_run, scene):
    result = run_map(tmp_path, trained_run.best_checkpoint, scene)
    assert result.returncode == 0, result.stderr[-3000:]
    classes, info = read(tmp_path / "map.tif")
    probabilities, probability_info = read(tmp_path / "map_probabilities.tif")
    confidence, _ = read(tmp_path / "map_confidence.tif")
    sidecar = json.loads((tmp_path / "map.json").read_text())
    assert info["crs"] == "EPSG:32613" and info["transform"].c == 400000.0
    assert info["transform"].a == 10.0 and classes.shape == (1, 150, 150)
    assert info["driver_layout"] == "COG" and info["nodata"] == 255
    names = sidecar["classes"]
    assert [info["tags"][f"CLASS_{i}"] for i in range(len(names))] == names
    assert len(info["colormap"]) >= len(names)
    assert probability_info["descriptions"][0] == f"{names[0]} probability (%)"
    # The cloud at the top left hides every date there: windows reaching into it lack every
    # month, so those pixels are nodata; the rest is mapped.
    mapped = classes[0] != 255
    assert not mapped[0, 0] and mapped[-1, -1] and mapped.mean() > 0.5
    assert (probabilities[:, mapped].sum(axis=0) >= 100 - len(names)).all()
    np.testing.assert_array_equal(probabilities[:, mapped].argmax(axis=0), classes[0][mapped])
    np.testing.assert_array_equal(probabilities[:, mapped].max(axis=0), confidence[0][mapped])
    assert sum(sidecar["pixels"].values()) == int(mapped.sum())
    assert sidecar["hectares"][names[int(classes[0][mapped][0])]] > 0
    assert [a["level"] for a in sidecar["acquisitions"]] == ["l1c"] * 7
    seconds = sidecar["seconds"]
    assert list(seconds) == ["read", "preprocess", "model", "blend", "write"]
    assert seconds["model"] > 0 and min(seconds.values()) >= 0
    assert not (tmp_path / "map.tif.parts").exists()


def test_blocks_join_without_seams(tmp_path, trained_run, scene):
    """The scene in one block and in blocks of one window each: the same map."""
    whole = run_map(tmp_path, trained_run.best_checkpoint, scene, "block_size=4096")
    tiled = run_map(tmp_path, trained_run.best_checkpoint, scene, "block_size=65", name="b.tif")
    assert whole.returncode == 0 and tiled.returncode == 0, tiled.stderr[-3000:]
    one, _ = read(tmp_path / "map_probabilities.tif")
    many, _ = read(tmp_path / "b_probabilities.tif")
    assert np.abs(one.astype(int) - many.astype(int)).max() <= 1
    np.testing.assert_array_equal(read(tmp_path / "map.tif")[0], read(tmp_path / "b.tif")[0])


def test_stride_65_is_the_patch_grid():
    from cropland.mapping.monthly_windows import window_origins

    assert window_origins(0, 200, 200, 65, 65).tolist() == [0, 65, 130, 135]
    assert window_origins(100, 140, 200, 65, 32).tolist() == [64, 96, 128, 135]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("no_band", "no file for band"),
        ("bad_folder", "names no date"),
        ("two_bands", "2 bands; expected one band per file"),
        ("floats", "float32 pixels; expected uint16"),
        ("no_crs", "no coordinate reference system"),
        ("not_raster", "not a raster rasterio can read"),
        ("l2a", "is an L2A product but the model was trained on L1C"),
        ("no_level", "cannot tell whether this is an L1C or an L2A product"),
        ("offset_era", "reflectance_offset=-1000"),
        ("wrong_months", "no acquisition in the months mapped"),
    ],
)
def test_bad_scenes_are_refused(tmp_path, trained_run, damage, expected):
    dates = ("20220610", "20220712", "20220808") if damage == "offset_era" else None
    if damage == "wrong_months":
        dates = ("20190110", "20190212", "20190308")
    scene = write_scene(tmp_path / "scene", size=70, **({"dates": dates} if dates else {}))
    first = sorted(scene.iterdir())[0]
    band = first / "B04.tif"
    data = np.ones((70, 70), dtype=np.uint16)
    if damage == "no_band":
        band.unlink()
    elif damage == "bad_folder":
        first.rename(scene / "june")
    elif damage == "two_bands":
        import rasterio

        with rasterio.open(band) as src:
            profile = {**src.profile, "count": 2}
        with rasterio.open(band, "w", **profile) as dst:
            dst.write(np.stack([data, data]))
    elif damage == "floats":
        write_band(band, data.astype(np.float32), 10.0)
    elif damage == "no_crs":
        write_band(first / "B03.tif", data, 10.0, crs=None)
    elif damage == "not_raster":
        band.write_bytes(b"II*\x00" + b"\x00" * 20)
    elif damage in ("l2a", "no_level"):
        level = {"PROCESSING_LEVEL": "Level-2A"} if damage == "l2a" else {"OTHER": "x"}
        for date in scene.iterdir():
            write_band(date / "B02.tif", data, 10.0, tags=level)
    result = run_map(tmp_path, trained_run.best_checkpoint, scene)
    assert_refused(result, expected)
    assert not list(tmp_path.glob("map*"))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("stride=0", "stride=0: expected a whole number from 1 to 65"),
        ("max_cloud=2", "max_cloud=2: expected a number from 0.0 to 1.0"),
        ("months=[13]", "months=[13]: expected calendar months"),
        ("product_level=l3", "product_level='l3': expected l1c, l2a or null"),
        ("output=map.png", "expected a GeoTIFF file name ending in .tif"),
        ("device=tpu", "device='tpu'"),
    ],
)
def test_bad_settings_are_refused(tmp_path, trained_run, scene, setting, expected):
    assert_refused(run_map(tmp_path, trained_run.best_checkpoint, scene, setting), expected)


def test_an_existing_output_is_left_alone(tmp_path, trained_run, scene):
    (tmp_path / "map_confidence.tif").write_text("mine")
    result = run_map(tmp_path, trained_run.best_checkpoint, scene)
    assert_refused(result, "map_confidence.tif", "already exists", "overwrite=true")
    assert (tmp_path / "map_confidence.tif").read_text() == "mine"
    assert not (tmp_path / "map.tif").exists()
