"""New labelled data: eval with data.split=all scores every labelled sequence of a file the model
never saw and warns only when the file is the one it trained on; training refuses the setting;
predict on labelled input adds the true crop and scores it as a hand count does."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from cropland.data.layout import UNKNOWN_CLASS
from cropland.data.prepare import prepare_dataset
from cropland.data.prepared_file import PreparedFile
from cropland.data.synthetic import generate_tree
from cropland.evaluation.evaluate import evaluate
from cropland.inference.predict import predict_to_csv, scores_path
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


def test_predict_on_labelled_input_adds_true_and_scores_as_a_hand_count_does(
    trained_run, new_region, tmp_path
):
    output = tmp_path / "pred.csv"
    cfg = run_config(
        "predict",
        tmp_path,
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={new_region}",
        f"output={output}",
        "progress=false",
    )
    predict_to_csv(cfg)
    with open(output) as handle:
        rows = list(csv.DictReader(handle))
    labelled = [row for row in rows if row["true"]]
    assert labelled and len(labelled) == len(rows)  # the synthetic tree labels every field
    hand_accuracy = sum(row["true"] == row["predicted"] for row in labelled) / len(labelled)
    counted = {row["true"] for row in labelled} | {row["predicted"] for row in labelled}
    f1s = []
    for name in counted:
        tp = sum(r["true"] == name == r["predicted"] for r in labelled)
        fp = sum(r["predicted"] == name != r["true"] for r in labelled)
        fn = sum(r["true"] == name != r["predicted"] for r in labelled)
        f1s.append(2 * tp / (2 * tp + fp + fn))
    scores = json.loads(scores_path(output).read_text())
    assert scores["labelled_rows"] == len(labelled)
    assert scores["acc"] == pytest.approx(hand_accuracy)
    assert scores["f1_macro"] == pytest.approx(sum(f1s) / len(f1s))

    # eval with data.split=all scores the same sequences the same way.
    metrics, _ = _evaluate(
        tmp_path / "eval",
        trained_run.best_checkpoint,
        f"data.path={new_region}",
        "data.split=all",
    )
    assert metrics["test/acc"] == pytest.approx(scores["acc"], abs=1e-6)
    assert metrics["test/f1_macro"] == pytest.approx(scores["f1_macro"], abs=1e-6)


def test_predict_on_unlabelled_input_has_no_true_column(trained_run, tmp_path):
    root = tmp_path / "tree"
    generate_tree(root, num_points=12, seed=5, progress=False)
    prepare_dataset(root, tmp_path / "any.h5", progress=False, min_length=1)
    with h5py.File(tmp_path / "any.h5", "r+") as handle:
        handle["sequences/label"][...] = UNKNOWN_CLASS
    output = tmp_path / "pred.csv"
    cfg = run_config(
        "predict",
        tmp_path,
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={tmp_path / 'any.h5'}",
        f"output={output}",
        "progress=false",
    )
    predict_to_csv(cfg)
    header = output.read_text().splitlines()[0].split(",")
    assert "true" not in header and "predicted" in header
    assert not scores_path(output).exists()
