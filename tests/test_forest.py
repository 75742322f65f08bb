"""The random-forest baseline: same split, same metrics.json keys as a network's run."""

from __future__ import annotations

import json

import numpy as np

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import MONTHS
from cropland.training.forest import month_channel_means
from tests.script_runs import call_script


def test_features_are_centre_means_per_month_and_missing_months_are_nan(prepared_file):
    datamodule = CropSequenceDataModule(str(prepared_file), channels="rgb")
    datamodule.setup()
    dataset = datamodule.datasets["train"]
    features = month_channel_means(dataset, centre=5)
    assert features.shape == (len(dataset), len(MONTHS) * 3)
    sample = dataset[0]
    image = sample["image"].numpy() / 255
    rows = features[0].reshape(len(MONTHS), 3)
    for step, month in enumerate(sample["months"].tolist()):
        centre = image[step, :, 30:35, 30:35].mean(axis=(-2, -1))
        np.testing.assert_allclose(rows[MONTHS.index(month)], centre, rtol=1e-5)
    missing = [m for m in MONTHS if m not in sample["months"].tolist()]
    assert all(np.isnan(rows[MONTHS.index(m)]).all() for m in missing)


def test_forest_run_writes_the_keys_a_network_run_writes(prepared_file, trained_run, tmp_path):
    result = call_script(
        "train_forest.py",
        "data=prepared",
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "forest.trees=20",
        "forest.jobs=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "train_forest" / "runs").iterdir()
    forest = json.loads((run / "metrics.json").read_text())
    network = json.loads((trained_run.folder / "metrics.json").read_text())
    tested = {k for k in network if k.startswith("test/") and k != "test/loss"}
    assert tested <= set(forest), tested - set(forest)
    datamodule = CropSequenceDataModule(str(prepared_file))
    datamodule.setup()
    assert forest["test/sequences"] == len(datamodule.datasets["test"])  # train.py's test split
    assert (run / "report.txt").is_file() and (run / "confusion_matrix.png").is_file()


def test_bad_forest_settings_are_one_line(prepared_file, tmp_path):
    result = call_script(
        "train_forest.py",
        "data=prepared",
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "forest.trees=0",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: forest.trees=0: expected at least 1 tree"
    )
