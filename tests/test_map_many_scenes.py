"""Many scenes are a Hydra multirun over input, one scene per job: here two, in parallel with
the joblib launcher, each job's map in its own folder and the multirun's summary naming them."""

from __future__ import annotations

import csv
import json

from tests.band_scene import write_scene
from tests.extras import needs_extra
from tests.script_runs import run_script

pytestmark = [needs_extra("maps"), needs_extra("sweeps")]


def test_two_scenes_in_a_joblib_multirun(tmp_path, trained_run):
    scenes = [write_scene(tmp_path / name, size=70, seed=seed) for seed, name in enumerate("ab")]
    result = run_script(
        "map.py",
        "-m",
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={scenes[0]},{scenes[1]}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"paths.log_dir={tmp_path / 'logs'}",
        "progress=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (multirun,) = (tmp_path / "logs" / "map" / "multiruns").iterdir()
    rows = list(csv.DictReader((multirun / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["completed", "completed"]
    for job, (row, scene) in enumerate(zip(rows, scenes, strict=True)):
        folder = multirun / str(job)
        assert row["result"] == str(folder / "map.tif")
        assert (folder / "map_probabilities.tif").is_file()
        assert json.loads((folder / "map.json").read_text())["input"] == str(scene)
    assert "result" in result.stderr and "test/acc" not in result.stderr
