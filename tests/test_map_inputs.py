"""The map's input layouts: one scene written as band folders, as multi-band GeoTIFFs and as a
STAC ItemCollection gives one map; the radiometry a STAC item states is the one used; a bad
input of each layout is one line naming the file and what was expected."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from cropland.mapping.acquisitions import MAX_ACQUISITIONS
from tests.band_scene import stac_items, write_multiband, write_scene, write_stac
from tests.extras import needs_extra
from tests.refusals import assert_refused
from tests.test_map import read, run_map

pytestmark = needs_extra("maps")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return write_scene(tmp_path_factory.mktemp("inputs") / "scene", size=100, cloudy_corner=30)


@pytest.fixture(scope="module")
def band_folder_map(tmp_path_factory, trained_run, scene) -> dict:
    folder = tmp_path_factory.mktemp("band_folder_map")
    result = run_map(folder, trained_run.best_checkpoint, scene)
    assert result.returncode == 0, result.stderr[-3000:]
    return _outputs(folder)


def _outputs(folder: Path) -> dict:
    sidecar = json.loads((folder / "map.json").read_text())
    return {
        "classes": read(folder / "map.tif")[0],
        "probabilities": read(folder / "map_probabilities.tif")[0],
        "offsets": [a["offset"] for a in sidecar["acquisitions"]],
        "dates": [a["date"] for a in sidecar["acquisitions"]],
    }


def _assert_same_map(folder: Path, expected: dict) -> None:
    found = _outputs(folder)
    assert found["dates"] == expected["dates"] and found["offsets"] == expected["offsets"]
    assert (found["classes"] != 255).any()
    np.testing.assert_array_equal(found["classes"], expected["classes"])
    np.testing.assert_array_equal(found["probabilities"], expected["probabilities"])


def test_multiband_files_give_the_band_folder_map(tmp_path, trained_run, scene, band_folder_map):
    # Descriptions as products and tools write them: any case, tile prefixes, resolutions.
    names = {"B03": "b03", "B04": "T13UDR_B04_10m", "B05": "B05_20m", "SCL": "scl"}
    files = write_multiband(scene, tmp_path / "files", names)
    result = run_map(tmp_path, trained_run.best_checkpoint, files)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_same_map(tmp_path, band_folder_map)


def test_a_stac_item_collection_gives_the_band_folder_map(
    tmp_path, trained_run, scene, band_folder_map
):
    items = write_stac(
        scene, tmp_path / "search" / "items.json", **{"s2:processing_baseline": "02.08"}
    )
    result = run_map(tmp_path, trained_run.best_checkpoint, items)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_same_map(tmp_path, band_folder_map)
    sidecar = json.loads((tmp_path / "map.json").read_text())
    assert {a["from"] for a in sidecar["acquisitions"]} == {"RADIO_ADD_OFFSET of the catalogue"}


def test_a_folder_of_stac_items_gives_the_band_folder_map(
    tmp_path, trained_run, scene, band_folder_map
):
    folder = tmp_path / "items"
    folder.mkdir()
    for item in stac_items(scene, folder):
        (folder / f"{item['id']}.json").write_text(json.dumps(item))
    result = run_map(tmp_path, trained_run.best_checkpoint, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_same_map(tmp_path, band_folder_map)


def _item_radiometry(tmp_path: Path, date: str, item_id: str, **properties) -> dict:
    from cropland.data.sentinel2_encoding import BANDS
    from cropland.mapping.scene_input import read_scene
    from cropland.mapping.scene_reader import SceneReader

    scene = write_scene(tmp_path / "scene", size=70, dates=(date,))
    [item] = stac_items(scene, tmp_path, **properties)
    item["id"] = item_id
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    acquisitions = read_scene(path, BANDS)
    with SceneReader(
        acquisitions, BANDS, level_setting=None, offset_setting=None, scale_setting=10000.0
    ) as reader:
        return reader.radiometry[0].as_record()


@pytest.mark.parametrize(
    ("date", "item_id", "properties", "level", "offset"),
    [
        ("20220610", "S2A_13UDR_20220610_0_L2A", {"s2:processing_baseline": "04.00"}, "l2a", -1000),
        ("20220610", "S2A_13UDR_20220610_0_L2A", {"s2:processing_baseline": "05.10"}, "l2a", -1000),
        # Earth Search shifted the numbers of these items already.
        (
            "20220610",
            "S2A_13UDR_20220610_0_L2A",
            {"s2:processing_baseline": "04.00", "earthsearch:boa_offset_applied": True},
            "l2a",
            0,
        ),
        ("20190610", "x", {"s2:product_uri": "S2A_MSIL1C_20190610T1_N0208_R1_T13UDR_2"}, "l1c", 0),
        (
            "20220610",
            "x",
            {"s2:product_uri": "S2A_MSIL2A_20220610T1_N0400_R1_T13UDR_2"},
            "l2a",
            -1000,
        ),
        ("20190610", "x", {"processing:level": "L2A", "s2:processing_baseline": "02.12"}, "l2a", 0),
    ],
)
def test_a_stac_item_says_level_and_offset(tmp_path, date, item_id, properties, level, offset):
    """The band files say L1C and nothing of an offset: what the item states is used."""
    record = _item_radiometry(tmp_path, date, item_id, **properties)
    assert record["level"] == level and record["offset"] == offset
    assert record["from"].endswith("of the catalogue")


def test_an_item_that_says_no_offset_leaves_it_to_the_files(tmp_path):
    record = _item_radiometry(tmp_path, "20190610", "x")
    assert record == {
        "level": "l1c",
        "offset": 0.0,
        "scale": 10000.0,
        "from": "no offset before baseline 04.00",
    }


def test_earth_search_items_need_only_the_bands_read_downloaded(tmp_path):
    """An item lists every band and more: others may stay remote, a band's second asset
    (Earth Search's ``-jp2`` copies) and composites are passed over."""
    from cropland.data.sentinel2_encoding import BANDS
    from cropland.mapping.scene_input import read_scene

    scene = write_scene(tmp_path / "scene", size=70, dates=("20190610",))
    [item] = stac_items(scene, tmp_path)
    remote = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/x"
    item["assets"].update(
        {
            "coastal": {"href": f"{remote}/B01.tif"},
            "red-jp2": {"href": f"{remote}/B04.jp2", "eo:bands": [{"name": "red"}]},
            "visual": {"href": f"{remote}/TCI.tif", "eo:bands": [{"name": "red"}, {"name": "g"}]},
            "nir": {"href": "scene/20190610/B08.tif", "eo:bands": [{"name": "B08"}]},
        }
    )
    item["assets"].pop("B08")
    (tmp_path / "item.json").write_text(json.dumps(item))
    [acquisition] = read_scene(tmp_path / "item.json", BANDS)
    assert {band: source.path.name for band, source in acquisition.bands.items()} == {
        band: f"{band}.tif" for band in BANDS
    }
    assert acquisition.scl.path.name == "SCL.tif"


def _multiband(tmp_path: Path, descriptions: dict[str, str]) -> Path:
    scene = write_scene(tmp_path / "scene", size=70, dates=("20190610", "20190712"))
    return write_multiband(scene, tmp_path / "files", descriptions)


def _stac(tmp_path: Path, change) -> Path:
    scene = write_scene(tmp_path / "scene", size=70, dates=("20190610", "20190712"))
    path = write_stac(scene, tmp_path / "items.json")
    collection = json.loads(path.read_text())
    change(collection)
    path.write_text(json.dumps(collection))
    return path


def _set_first(key: str, value):
    def change(collection: dict) -> None:
        collection["features"][0]["assets"][key] = value

    return change


def _mixed(tmp_path: Path) -> Path:
    scene = write_scene(tmp_path / "scene", size=70, dates=("20190610", "20190712"))
    write_multiband(scene, tmp_path / "files")
    os.replace(tmp_path / "files" / "S2A_20190712.tif", scene / "S2A_20190801.tif")
    return scene


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            lambda t: _multiband(
                t, dict.fromkeys(("B02", "B03", "B04", "B05", "B06", "B08", "SCL"), "")
            ),
            ("S2A_20190610.tif: no band described as B02", "descriptions found: none"),
        ),
        (
            lambda t: _multiband(t, {"B08": "nir"}),
            ("S2A_20190610.tif: no band described as B08", "'nir'", "Sentinel-2 name"),
        ),
        (lambda t: _multiband(t, {"B06": "B05"}), ("are both described as B05",)),
        (
            lambda t: _stac(t, _set_first("B08", {"href": "https://example.com/B08.tif"})),
            ("asset 'B08' is at 'https://example.com/B08.tif'", "download the assets first"),
        ),
        (
            lambda t: _stac(t, _set_first("B08", {"href": "gone/B08.tif"})),
            ("asset 'B08'", "B08.tif' does not exist"),
        ),
        (
            lambda t: _stac(t, lambda c: c["features"][1]["assets"].pop("red")),
            ("item 'S2A_13UDR_20190712_0_L1C': no asset for band B04",),
        ),
        (
            lambda t: _stac(t, lambda c: c["features"][0]["properties"].pop("datetime")),
            ("items.json: not a valid STAC item",),
        ),
        (
            lambda t: _stac(t, lambda c: c.update(features=c["features"] * MAX_ACQUISITIONS)),
            (f"more than {MAX_ACQUISITIONS} items",),
        ),
        (
            lambda t: _stac(
                t,
                lambda c: c["features"][1].update(
                    id="again", properties=c["features"][0]["properties"]
                ),
            ),
            ("date 20190610 has more than one item",),
        ),
        (
            lambda t: _write(t / "items.json", '{"type": "FeatureCollection", "features": ['),
            ("items.json: not JSON",),
        ),
        (lambda t: _write(t / "items.json", '{"type": "Catalog"}'), ("\"type\" is 'Catalog'",)),
        (
            lambda t: _huge(t / "items.json"),
            ("items.json:", "bytes read at most", "expected a STAC ItemCollection"),
        ),
        (lambda t: _mixed(t), ("holds both date sub-folders (20190610) and multi-band GeoTIFFs",)),
        (lambda t: _write(t / "scene.zip", "PK"), ("a file that is not STAC JSON",)),
        (lambda t: t / "nowhere", ("no such file or folder",)),
    ],
    ids=[
        "no_descriptions",
        "band_not_described",
        "band_described_twice",
        "http_href",
        "missing_file",
        "missing_asset",
        "no_datetime",
        "too_many_items",
        "repeated_date",
        "malformed_json",
        "not_an_item",
        "huge_json",
        "mixed_folder",
        "other_file",
        "nothing_there",
    ],
)
def test_bad_inputs_are_refused(tmp_path, trained_run, bad, expected):
    source = bad(tmp_path)
    result = run_map(tmp_path, trained_run.best_checkpoint, source)
    assert_refused(result, *expected)
    assert not list(tmp_path.glob("map*"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _huge(path: Path) -> Path:
    from cropland.mapping.stac_items import MAX_JSON_BYTES

    with open(path, "wb") as handle:  # sparse: refused by its size before a byte is read
        handle.truncate(MAX_JSON_BYTES + 1)
    return path
