"""A checkpoint records the product level its training data had, and the map feeds it scenes of
that level only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.band_scene import write_band, write_scene
from tests.extras import needs_extra
from tests.map_runs import run_map
from tests.refusals import assert_refused
from tests.script_runs import TINY_TRAINING, call_script

pytestmark = needs_extra("maps")


def checkpoint_with_level(source: Path, level, folder: Path) -> Path:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"]["product_level"] = level
    path = folder / f"level_{type(level).__name__}.ckpt"
    torch.save(checkpoint, path)
    return path


def l2a_scene(root: Path) -> Path:
    scene = write_scene(root, size=70)
    for date in scene.iterdir():
        data = np.full((70, 70), 900, dtype=np.uint16)
        write_band(date / "B02.tif", data, 10.0, tags={"PROCESSING_LEVEL": "Level-2A"})
    return scene


def test_training_records_the_datas_level(trained_run):
    checkpoint = torch.load(trained_run.best_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["product_level"] == "l1c"


def test_an_l2a_model_maps_l2a_scenes_and_refuses_l1c_ones(tmp_path, trained_run):
    model = checkpoint_with_level(trained_run.best_checkpoint, "l2a", tmp_path)
    l1c = write_scene(tmp_path / "l1c", size=70)
    assert_refused(
        run_map(tmp_path, model, l1c), "is an L1C product but the model was trained on L2A"
    )
    result = run_map(tmp_path, model, l2a_scene(tmp_path / "l2a"), "reflectance_offset=0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "map.tif").exists()


@pytest.mark.parametrize("level", ["l3", ["l1c"], 7])
def test_a_checkpoint_with_an_unknown_level_is_refused(tmp_path, trained_run, level):
    model = checkpoint_with_level(trained_run.best_checkpoint, level, tmp_path)
    scene = write_scene(tmp_path / "scene", size=70)
    assert_refused(run_map(tmp_path, model, scene), "product_level", "refusing to load it")


def test_an_unknown_training_level_is_refused(prepared_file, tmp_path):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "data.product_level=toa",
    )
    assert_refused(result, "data.product_level='toa'", "l1c, l2a")
