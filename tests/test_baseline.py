"""The non-deep baselines (scripts/train_baseline.py): their features, the split and
metrics.json keys a network's run has, and one-line refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import MONTHS
from cropland.data.prepare import prepare_dataset
from cropland.training.baseline_features import sequence_features
from cropland.training.scores import accuracy_and_macro_f1
from tests.extras import needs_extra
from tests.refusals import assert_refused
from tests.script_runs import call_script
from tests.tiny_tree import expected_record, write_sequence

RGB = [0, 1, 2]  # the red, green and blue channels of a prepared record
# Sequences of the hand-built file: point -> (months, crop, split folder).
HAND_BUILT = {
    1: ([6, 8, 9], "CORN", "training"),
    2: ([7, 8, 10], "OAT", "training"),
    3: ([6, 7, 8], "CORN", "validation"),
    4: ([6, 7, 8], "OAT", "test"),
}


def _prepared(root: Path, sequences: dict) -> Path:
    for point, (months, crop, split) in sequences.items():
        write_sequence(root / "tree", point, months, crop=crop, split=split)
    prepare_dataset(root / "tree", root / "file.h5", progress=False)
    return root / "file.h5"


@pytest.fixture(scope="module")
def hand_built_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _prepared(tmp_path_factory.mktemp("hand_built"), HAND_BUILT)


def _datamodule(path: Path, **settings) -> CropSequenceDataModule:
    datamodule = CropSequenceDataModule(str(path), channels="rgb", split="predefined", **settings)
    datamodule.setup()
    return datamodule


def test_features_are_each_months_centre_and_patch_statistics_and_presence(hand_built_file):
    datamodule = _datamodule(hand_built_file)
    dataset = datamodule.datasets["train"]
    kinds = ["centre_mean", "patch_mean", "patch_std", "presence"]
    features = sequence_features(dataset, kinds, centre=5)
    months, channels = len(MONTHS), len(RGB)
    assert features.shape == (2, 3 * months * channels + months)
    points = datamodule.prepared_file.sequences.point[dataset.indices]
    for row, point in zip(features, points, strict=True):
        centre, mean, std = row[: 3 * months * channels].reshape(3, months, channels)
        present = row[3 * months * channels :]
        taken = HAND_BUILT[int(point)][0]
        for column, month in enumerate(MONTHS):
            if month not in taken:
                # No image that month: no pixel statistic, and the flag says so.
                assert np.isnan([centre[column], mean[column], std[column]]).all()
                assert present[column] == 0
                continue
            pixels = expected_record(int(point), 201900 + month)[RGB] / 255
            # The 5 x 5 centre of a 65 x 65 patch starts at pixel 30.
            np.testing.assert_allclose(
                centre[column], pixels[:, 30:35, 30:35].mean(axis=(1, 2)), rtol=1e-6
            )
            np.testing.assert_allclose(mean[column], pixels.mean(axis=(1, 2)), rtol=1e-6)
            np.testing.assert_allclose(std[column], pixels.std(axis=(1, 2)), rtol=1e-6)
            assert present[column] == 1


def test_features_keep_the_order_of_the_kinds_asked_for(hand_built_file):
    dataset = _datamodule(hand_built_file).datasets["train"]
    both = sequence_features(dataset, ["presence", "centre_mean"], centre=17)
    np.testing.assert_array_equal(
        both[:, : len(MONTHS)], sequence_features(dataset, ["presence"], 17)
    )
    np.testing.assert_array_equal(
        both[:, len(MONTHS) :], sequence_features(dataset, ["centre_mean"], 17)
    )


def test_features_are_the_same_read_in_memory_or_sequence_by_sequence(prepared_file):
    kinds = ["centre_mean", "patch_mean", "patch_std", "presence"]
    at_once, one_by_one = (
        CropSequenceDataModule(str(prepared_file), in_memory=in_memory)
        for in_memory in (True, False)
    )
    for datamodule in (at_once, one_by_one):
        datamodule.setup()
    assert at_once.datasets["train"].pixels is not None
    assert one_by_one.datasets["train"].pixels is None
    for split in ("train", "test"):
        np.testing.assert_array_equal(
            sequence_features(at_once.datasets[split], kinds, 17),
            sequence_features(one_by_one.datasets[split], kinds, 17),
        )


def _run(prepared_file: Path, tmp_path: Path, *overrides: str):
    return call_script(
        "train_baseline.py",
        "data=prepared",
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        *overrides,
    )


# Small enough to take a second on the tiny set; hgb's hold-out is large enough to have a
# sequence of each of its ten classes.
QUICK = {
    "rf": ["baseline.estimator.n_estimators=20", "baseline.estimator.n_jobs=1"],
    "hgb": ["baseline.estimator.max_iter=20", "baseline.estimator.validation_fraction=0.25"],
}


@needs_extra("baseline")
@pytest.mark.parametrize(
    ("baseline", "name"), [("rf", "random_forest"), ("hgb", "gradient_boosting")]
)
def test_baseline_run_writes_the_keys_a_network_run_writes(
    prepared_file, trained_run, tmp_path, baseline, name
):
    result = _run(prepared_file, tmp_path, f"baseline={baseline}", *QUICK[baseline])
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "train_baseline" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    network = json.loads((trained_run.folder / "metrics.json").read_text())
    # Not the calibration errors: a baseline keeps its own probabilities, never calibrated.
    scores = {
        k
        for k in network
        if k.split("/")[0] in ("val", "test")
        and k.split("/")[-1] != "loss"
        and not k.startswith("test/ece")
    }
    assert scores <= set(metrics), scores - set(metrics)
    assert metrics["model/name"] == name
    assert metrics["time/seconds_to_fit"] > 0
    datamodule = CropSequenceDataModule(str(prepared_file))
    datamodule.setup()
    assert metrics["test/sequences"] == len(datamodule.datasets["test"])  # train.py's test split
    for written in (
        "config.yaml",
        "report.txt",
        "confusion_matrix.png",
        "confusion_matrix_norm.png",
    ):
        assert (run / written).is_file(), written
    # Every test sequence, named as a network's run names it, with the predictions scored.
    path = run / "test_predictions.csv"
    assert path.read_text().splitlines()[0] == "sequence,point,label,predicted"
    sequences, points, labels, predicted = np.loadtxt(
        path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2
    ).T
    test = datamodule.datasets["test"]
    np.testing.assert_array_equal(sequences, np.sort(test.indices))
    np.testing.assert_array_equal(points, datamodule.prepared_file.sequences.point[sequences])
    np.testing.assert_array_equal(labels, datamodule.prepared_file.sequences.label[sequences])
    confusion = np.zeros((len(datamodule.classes),) * 2, dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    acc, f1 = accuracy_and_macro_f1(confusion)
    assert acc == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert f1 == pytest.approx(metrics["test/f1_macro"], abs=1e-6)


@needs_extra("baseline")
def test_gradient_boosting_is_fitted_on_the_training_split_alone(
    prepared_file, tmp_path, monkeypatch
):
    from sklearn.ensemble import HistGradientBoostingClassifier

    fitted = []
    fit = HistGradientBoostingClassifier.fit

    def recording_fit(self, features, labels, *args, **kwargs):
        fitted.append(np.asarray(labels))
        return fit(self, features, labels, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", recording_fit)
    result = _run(prepared_file, tmp_path, "baseline=hgb", *QUICK["hgb"])
    assert result.returncode == 0, result.stderr[-3000:]
    datamodule = CropSequenceDataModule(str(prepared_file))
    datamodule.setup()
    # Early stopping can only hold out part of what fit is given: the training split, never
    # validation or test sequences.
    (labels,) = fitted
    np.testing.assert_array_equal(labels, datamodule.datasets["train"].labels)


# The script looks for scikit-learn before it checks any setting.
@needs_extra("baseline")
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["features.kinds=[centre_mean,colour]"], ["features.kinds=", "patch_std", "e.g."]),
        (["features.kinds=[]"], ["features.kinds=[]", "expected a list"]),
        (["features.kinds=[presence,presence]"], ["features.kinds=", "distinct"]),
        (["features.centre=0"], ["features.centre=0", "at least 1"]),
        (["features.centre=true"], ["features.centre=True", "whole number"]),
        (["features.centre=66"], ["features.centre=66", "65 x 65", "at most 65"]),
        (
            ["baseline.estimator.n_estimators=0"],
            [
                "baseline.estimator.n_estimators=0",
                "RandomForestClassifier",
                "conf/baseline/rf.yaml",
            ],
        ),
        (
            ["baseline=hgb", "baseline.estimator.learning_rate=-1"],
            ["baseline.estimator.learning_rate=-1", "HistGradientBoostingClassifier", "hgb.yaml"],
        ),
        (
            ["+baseline.estimator.n_estimatorz=3"],
            ["baseline.estimator", "could not be built", "n_estimatorz", "conf/baseline/rf.yaml"],
        ),
        (
            ["baseline.estimator._target_=collections.OrderedDict"],
            ["baseline.estimator._target_=collections.OrderedDict", "classifier"],
        ),
        (["baseline.name=null"], ["baseline.name=None", "random_forest"]),
        # The tiny training split: ten classes, a 10% hold-out of nine sequences.
        (["baseline=hgb"], ["baseline=hgb", "too small", "early_stopping=false"]),
    ],
    ids=lambda value: value[-1] if isinstance(value, list) and "=" in value[-1] else None,
)
def test_bad_settings_are_one_line(prepared_file, tmp_path, overrides, expected):
    assert_refused(_run(prepared_file, tmp_path, *overrides), *expected)
    # Nothing was fitted, so no metrics were written.
    assert not list(tmp_path.glob("train_baseline/runs/*/metrics.json"))


@needs_extra("baseline")
def test_an_empty_training_split_is_one_line(tmp_path):
    path = _prepared(tmp_path, {p: v for p, v in HAND_BUILT.items() if v[2] != "training"})
    line = assert_refused(_run(path, tmp_path, "data.split=predefined"), "train split", "empty")
    assert str(path) in line


def test_missing_scikit_learn_is_one_line(prepared_file, tmp_path, monkeypatch):
    # What `import sklearn.base` meets where scikit-learn is not installed.
    monkeypatch.setitem(sys.modules, "sklearn.base", None)
    assert_refused(_run(prepared_file, tmp_path), "scikit-learn", "pip install", ".[baseline]")


def test_baseline_is_one_of_the_group_files(prepared_file, tmp_path):
    result = _run(prepared_file, tmp_path, "baseline=../train_baseline")
    assert result.returncode != 0
    assert "baseline" in result.stderr
    assert not (tmp_path / "train_baseline").exists()
