"""map.py until=YYYYMM: the season as known by then."""

from __future__ import annotations

import json

from tests.band_scene import write_scene
from tests.extras import needs_extra
from tests.map_runs import read, run_map
from tests.refusals import assert_refused

pytestmark = needs_extra("maps")


def test_until_maps_with_the_acquisitions_up_to_that_month(tmp_path, trained_run):
    scene = write_scene(tmp_path / "scene", size=70)
    full = run_map(tmp_path, trained_run.best_checkpoint, scene, name="full.tif")
    early = run_map(tmp_path, trained_run.best_checkpoint, scene, "until=201908", name="aug.tif")
    assert full.returncode == 0 and early.returncode == 0, early.stderr[-3000:]
    sidecar = json.loads((tmp_path / "aug.json").read_text())
    assert sidecar["settings"]["until"] == "201908"
    windows = sidecar["windows_per_month"]
    assert windows["6"] > 0 and windows["8"] > 0 and windows["9"] == windows["10"] == 0
    assert all(a["date"] <= "2019-08-31" for a in sidecar["acquisitions"])
    # Of the scene's seven dates, the five of June to August.
    assert len(sidecar["acquisitions"]) == 5
    assert json.loads((tmp_path / "full.json").read_text())["windows_per_month"]["10"] > 0
    assert read(tmp_path / "aug.tif")[0].shape == read(tmp_path / "full.tif")[0].shape


def test_until_before_the_first_acquisition_is_refused(tmp_path, trained_run):
    scene = write_scene(tmp_path / "scene", size=70)
    result = run_map(tmp_path, trained_run.best_checkpoint, scene, "until=201905")
    assert_refused(result, "until=201905", "no acquisition by then", "2019-06-10")
    assert_refused(run_map(tmp_path, trained_run.best_checkpoint, scene, "until=2019"), "YYYYMM")
