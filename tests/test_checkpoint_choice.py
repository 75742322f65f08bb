"""ckpt_path=best and ckpt_path=<run folder>: the best checkpoint the run recorded, in eval,
predict and export alike; a plain file stays as given."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from cropland.errors import CroplandError
from cropland.inference.checkpoint_choice import best_of_run, chosen_checkpoint
from tests.script_runs import run_script


@pytest.fixture
def runs(trained_run, tmp_path):
    """Two copies of the trained run under <tmp>/outputs/train/runs, the second the newer."""
    train_runs = tmp_path / "outputs" / "train" / "runs"
    for name in ("2026-01-01_10-00-00_aaaa", "2026-01-02_10-00-00_bbbb"):
        shutil.copytree(trained_run.folder, train_runs / name)
    return train_runs


def test_a_run_folder_means_its_recorded_best(runs, trained_run):
    run = runs / "2026-01-01_10-00-00_aaaa"
    assert chosen_checkpoint(run, runs) == run / "checkpoints" / trained_run.best_checkpoint.name
    # The record is last.ckpt's, not a guess from the file names.
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = (
        v for k, v in last["callbacks"].items() if k.startswith("ModelCheckpoint") and v["monitor"]
    )
    assert state["best_model_path"].endswith(trained_run.best_checkpoint.name)


def test_best_means_the_newest_runs_best(runs, trained_run):
    newest = runs / "2026-01-02_10-00-00_bbbb" / "checkpoints"
    assert chosen_checkpoint("best", runs) == newest / trained_run.best_checkpoint.name


def test_a_file_is_taken_as_given(runs, trained_run):
    assert chosen_checkpoint(trained_run.best_checkpoint, runs) == trained_run.best_checkpoint


def test_a_run_without_a_record_and_two_epoch_files_is_refused(runs):
    checkpoints = runs / "2026-01-01_10-00-00_aaaa" / "checkpoints"
    (best,) = checkpoints.glob("epoch_*.ckpt")
    shutil.copy(best, checkpoints / "epoch_999.ckpt")
    (checkpoints / "last.ckpt").unlink()
    with pytest.raises(CroplandError, match="no last.ckpt there records which checkpoint"):
        best_of_run(checkpoints.parent)


def test_best_without_runs_is_one_line(tmp_path):
    with pytest.raises(CroplandError, match="ckpt_path=best: no training run with checkpoints"):
        chosen_checkpoint("best", tmp_path / "train" / "runs")


def test_eval_takes_best(runs, trained_run, prepared_file, tmp_path):
    result = run_script(
        "eval.py",
        "ckpt_path=best",
        f"paths.log_dir={tmp_path / 'outputs'}",
        f"data.path={prepared_file}",
        f"hydra.run.dir={tmp_path / 'eval'}",
        "progress=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    newest = runs / "2026-01-02_10-00-00_bbbb" / "checkpoints" / trained_run.best_checkpoint.name
    assert metrics["checkpoint"] == str(newest)
