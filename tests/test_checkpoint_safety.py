"""A checkpoint names a model, never code: crafted files that load with weights_only=True are
refused by every entry point before anything is built, and nothing they name is run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from cropland.errors import CroplandError
from cropland.inference.model_loading import load_classifier
from cropland.training.module import CropSequenceClassifier
from cropland.training.resume import resume_checkpoint
from tests.extras import needs_extra
from tests.script_runs import TINY_TRAINING, call_script

PRECIOUS = "a file the checkpoint must not touch\n"


def _payloads(victim: Path) -> dict[str, dict]:
    """Changes to a checkpoint's hyperparameters, each naming a callable that would empty,
    create or run something if it were ever called."""
    return {
        "nested_open": {
            "net.dropout": {"_target_": "builtins.open", "file": str(victim), "mode": "w"}
        },
        "top_level_system": {"net": {"_target_": "os.system", "command": f"rm {victim}"}},
        "nested_touch": {
            "net.hidden_channels": {"_target_": "pathlib.Path.touch", "_args_": [f"{victim}.new"]}
        },
        "lookalike": {
            "net": {"_target_": "cropland.models.published.os.system", "command": f"rm {victim}"}
        },
        "optimizer_open": {
            "optimizer.lr": {"_target_": "builtins.open", "file": str(victim), "mode": "w"}
        },
        "partial_in_net": {"net._partial_": True},
    }


def _crafted(checkpoint: dict, change: dict) -> dict:
    crafted = copy.deepcopy(checkpoint)
    for dotted, value in change.items():
        *parents, key = dotted.split(".")
        node = crafted["hyper_parameters"]
        for parent in parents:
            node = node[parent]
        node[key] = value
    return crafted


@pytest.fixture()
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(PRECIOUS)
    return path


def _assert_untouched(victim: Path) -> None:
    assert victim.read_text() == PRECIOUS
    assert not Path(f"{victim}.new").exists()


def _write_crafted(trained_run, tmp_path: Path, victim: Path, name: str) -> Path:
    checkpoint = torch.load(trained_run.best_checkpoint, map_location="cpu", weights_only=True)
    path = tmp_path / f"{name}.ckpt"
    torch.save(_crafted(checkpoint, _payloads(victim)[name]), path)
    # Crafted as an attacker would: it still loads with weights_only=True.
    torch.load(path, map_location="cpu", weights_only=True)
    return path


LOADERS = {
    "load_classifier": load_classifier,
    "load_from_checkpoint": CropSequenceClassifier.load_from_checkpoint,
    "resume": lambda path: resume_checkpoint(path, path.parent / "runs", path.parent / "now"),
}
PAYLOADS = ["nested_open", "top_level_system", "nested_touch", "lookalike", "optimizer_open"]


@pytest.mark.parametrize("name", [*PAYLOADS, "partial_in_net"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_a_crafted_checkpoint(loader, name, trained_run, tmp_path, victim):
    path = _write_crafted(trained_run, tmp_path, victim, name)
    with pytest.raises(CroplandError, match=rf"ckpt_path={path}: .*refusing"):
        LOADERS[loader](path)
    _assert_untouched(victim)


def test_a_genuine_checkpoint_still_loads_everywhere(trained_run, tmp_path):
    assert load_classifier(trained_run.best_checkpoint).classes
    assert CropSequenceClassifier.load_from_checkpoint(trained_run.best_checkpoint).classes
    assert resume_checkpoint(trained_run.best_checkpoint, tmp_path, tmp_path) is not None


def _entry_points(path: Path, prepared_file: Path, tmp_path: Path) -> dict:
    return {
        "eval.py": [f"ckpt_path={path}", f"paths.log_dir={tmp_path / 'outputs'}"],
        "predict.py": [
            f"ckpt_path={path}",
            f"input={prepared_file}",
            f"output={tmp_path / 'predictions.csv'}",
        ],
        "export.py": [f"ckpt_path={path}", f"output={tmp_path / 'model.onnx'}"],
        "train.py": [
            *TINY_TRAINING,
            f"data.path={prepared_file}",
            f"ckpt_path={path}",
            f"paths.log_dir={tmp_path / 'outputs'}",
        ],
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nested_open", "lookalike"])
# export.py's default format=onnx: without the export extra it refuses before reading ckpt_path.
@pytest.mark.parametrize(
    "script",
    ["eval.py", "predict.py", pytest.param("export.py", marks=needs_extra("export")), "train.py"],
)
def test_scripts_refuse_a_crafted_checkpoint_in_one_line(
    script, name, trained_run, prepared_file, tmp_path, victim
):
    path = _write_crafted(trained_run, tmp_path, victim, name)
    overrides = _entry_points(path, prepared_file, tmp_path)[script]
    result = call_script(script, *overrides)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ckpt_path=") and str(path) in line
    _assert_untouched(victim)
    assert not (tmp_path / "predictions.csv").exists()
    assert not (tmp_path / "model.onnx").exists()
    # Refused before a run folder or its config was written.
    assert not list((tmp_path / "outputs").glob("*/runs/*/config.yaml"))
