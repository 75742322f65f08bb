"""data.split=all: eval scores every labelled sequence of a file the model never saw, warns only
when the file is the one it trained on, and training refuses the setting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cropland.data.layout import UNKNOWN_CLASS
from cropland.data.prepare import prepare_dataset
from cropland.data.prepared_file import PreparedFile
from cropland.data.synthetic import generate_tree
from cropland.evaluation.evaluate import evaluate
from tests.hydra_configs import run_config
from tests.script_runs import TINY_TRAINING, call_script


@pytest.fixture(scope="module")
def new_region(tmp_path_factory) -> Path:
    """Another generator seed: fields the trained run never saw, with the same classes."""
    root = tmp_path_factory.mktemp("new_region")
    generate_tree(root / "tree", num_points=40, seed=11, progress=False)
    prepare_dataset(root / "tree", root / "new.h5", progress=False)
    return root / "new.h5"


def _evaluate(tmp_path: Path, checkpoint: Path, *overrides: str) -> tuple[dict, str]:
    cfg = run_config("eval", tmp_path, f"ckpt_path={checkpoint}", "progress=false", *overrides)
    metrics = evaluate(cfg, data_keys_given={o.split("=")[0][5:] for o in overrides})
    return metrics, (tmp_path / "report.txt").read_text()


def test_split_all_scores_every_labelled_sequence_without_a_warning(
    trained_run, new_region, tmp_path
):
    metrics, report = _evaluate(
        tmp_path, trained_run.best_checkpoint, f"data.path={new_region}", "data.split=all"
    )
    labels = PreparedFile(new_region).sequences.label
    assert metrics["test_sequences"] == int(np.sum(labels != UNKNOWN_CLASS))
    assert metrics["split"] == "all"
    assert metrics["warnings"] == []
    assert "every labelled sequence" in report
    assert json.loads((tmp_path / "metrics.json").read_text())["test_sequences"] == len(
        labels[labels != UNKNOWN_CLASS]
    )
    assert metrics["early_season"][-1]["sequences"] <= metrics["test_sequences"]


def test_split_all_on_the_training_file_says_so(trained_run, prepared_file, tmp_path):
    metrics, report = _evaluate(tmp_path, trained_run.best_checkpoint, "data.split=all")
    assert metrics["data"] == str(prepared_file)
    assert len(metrics["warnings"]) == 1
    assert "the file this model was trained on" in metrics["warnings"][0]
    assert "warning: data.split=all" in report


def test_another_file_without_split_all_points_to_it(trained_run, new_region, tmp_path):
    metrics, _ = _evaluate(tmp_path, trained_run.best_checkpoint, f"data.path={new_region}")
    assert metrics["split"] == "stratified"
    assert "data.split=all" in metrics["warnings"][0]


def test_training_refuses_split_all_in_one_line(prepared_file, tmp_path):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        "data.split=all",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: data.split=all puts every labelled sequence"), last
