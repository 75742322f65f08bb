"""scripts/eval.py on a trained run and on the published weights, checked against Lightning."""

import csv
import json

import lightning as L
import numpy as np
import pytest
import torch

from cropland.data.datamodule import CropSequenceDataModule
from cropland.evaluation.bootstrap import bootstrap_intervals
from cropland.inference.batch_prediction import predict
from cropland.inference.model_loading import load_classifier
from tests.script_runs import PUBLISHED_WEIGHTS, call_script, run_script


@pytest.fixture(scope="module")
def evaluation(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    result = run_script(
        "eval.py", f"ckpt_path={trained_run.best_checkpoint}", f"hydra.run.dir={out}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads((out / "metrics.json").read_text()), result.stdout


def test_eval_scores_the_test_split_the_run_held_out(evaluation, trained_run, prepared_file):
    _, metrics, _ = evaluation
    # An independent count: Lightning's test loop with torchmetrics, over the same split.
    model = load_classifier(trained_run.best_checkpoint)
    datamodule = CropSequenceDataModule(str(prepared_file), batch_size=8)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    (tested,) = trainer.test(model, datamodule=datamodule, verbose=False)
    assert metrics["test_sequences"] == len(datamodule.datasets["test"])
    assert metrics["test/acc"] == pytest.approx(tested["test/acc"], abs=1e-6)
    assert metrics["test/f1_macro"] == pytest.approx(tested["test/f1_macro"], abs=1e-6)
    assert metrics["warnings"] == []


def test_eval_writes_report_table_csv_and_figures(evaluation):
    out, metrics, stdout = evaluation
    report = (out / "report.txt").read_text()
    for text in ("precision", "macro avg", "weighted avg", "bootstrap", "up to July"):
        assert text in report
    assert "macro avg" in stdout
    with open(out / "per_class.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows][0] == "BARLEY" and len(rows) == 10
    assert sum(int(r["support"]) for r in rows) == metrics["test_sequences"]
    for name in ("confusion_matrix.png", "confusion_matrix_norm.png", "early_season.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bootstrap_interval_brackets_the_score(evaluation):
    _, metrics, _ = evaluation
    for name in ("test/acc", "test/f1_macro"):
        low, high = metrics["bootstrap"][name]
        assert 0 <= low <= metrics[name] <= high <= 1


def test_bootstrap_of_a_perfect_and_a_coin_flip_classifier():
    labels = np.repeat([0, 1], 200)
    assert bootstrap_intervals(labels, labels, 2)["acc"] == (1.0, 1.0)
    coin = np.random.default_rng(0).integers(0, 2, size=400)
    low, high = bootstrap_intervals(labels, coin, 2, seed=1)["acc"]
    assert low < 0.5 < high and high - low < 0.15
    # Same seed, same interval.
    assert bootstrap_intervals(labels, coin, 2, seed=1) == bootstrap_intervals(
        labels, coin, 2, seed=1
    )


def test_early_season_rows_see_only_the_months_so_far(evaluation, trained_run, prepared_file):
    _, metrics, _ = evaluation
    rows = metrics["early_season"]
    assert [r["last_month"] for r in rows] == [6, 7, 8, 9, None]
    total = metrics["test_sequences"]
    assert all(r["sequences"] + r["without_images"] == total for r in rows)
    assert [r["sequences"] for r in rows] == sorted(r["sequences"] for r in rows)
    assert rows[-1]["acc"] == pytest.approx(metrics["test/acc"])

    # Up to August by hand: cut each sequence before its first later month, run it alone.
    model = load_classifier(trained_run.best_checkpoint)
    datamodule = CropSequenceDataModule(str(prepared_file), batch_size=8)
    datamodule.setup()
    correct = scored = 0
    for item in datamodule.datasets["test"]:
        keep = item["months"] <= 8
        if not keep.any():
            continue
        image = item["image"][keep][None].float() / 255
        with torch.no_grad():
            logits = model(image, torch.tensor([int(keep.sum())]), item["months"][keep][None])
        correct += int(logits.argmax() == item["label"])
        scored += 1
    august = rows[2]
    assert august["sequences"] == scored
    assert august["acc"] == pytest.approx(correct / scored)


def test_predict_drops_sequences_with_no_image_by_the_cutoff(trained_run, prepared_file):
    model = load_classifier(trained_run.best_checkpoint)
    datamodule = CropSequenceDataModule(str(prepared_file), batch_size=8)
    datamodule.setup()
    batches = list(datamodule.test_dataloader())
    found = predict(model, batches, lambda b: datamodule.on_after_batch_transfer(b, 0), 6)
    first_months = [int(item["months"][0]) for item in datamodule.datasets["test"]]
    assert found.dropped == sum(m > 6 for m in first_months)
    assert np.allclose(found.probabilities.sum(axis=1), 1, atol=1e-5)


def test_published_weights_are_scored_with_a_warning(prepared_file, tmp_path):
    result = run_script(
        "eval.py",
        f"ckpt_path={PUBLISHED_WEIGHTS}",
        f"data.path={prepared_file}",
        f"hydra.run.dir={tmp_path}",
        "progress=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "published weights"
    assert "published project's own random split" in metrics["warnings"][0]
    assert 0 <= metrics["test/acc"] <= 1


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["ckpt_path=absent.ckpt"], "ckpt_path=absent.ckpt does not exist"),
        ([f"ckpt_path={PUBLISHED_WEIGHTS}"], "data.path"),
        ([], "missing ckpt_path"),
    ],
)
def test_bad_arguments_are_one_clear_line(tmp_path, arguments, expected):
    result = call_script("eval.py", *arguments, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
