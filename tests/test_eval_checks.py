"""scripts/eval.py refuses bootstrap settings it cannot use, in one line, before any work; and
the early-season cut-offs never send the model a sequence without images."""

import numpy as np
import pytest

from cropland.data.datamodule import CropSequenceDataModule
from cropland.evaluation.bootstrap import bootstrap_intervals
from cropland.evaluation.early_season import CUTOFFS
from cropland.inference.batch_prediction import predict
from cropland.inference.model_loading import load_classifier
from tests.recording_model import RecordingModel
from tests.refusals import assert_refused
from tests.script_runs import call_script


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("bootstrap.resamples=0", "at least 1"),
        ("bootstrap.resamples=2.5", "a whole number"),
        ("bootstrap.level=1.5", "strictly between 0 and 1"),
        ("bootstrap.level=0", "strictly between 0 and 1"),
    ],
)
def test_unusable_bootstrap_settings_are_one_line(setting, expected, trained_run, tmp_path):
    run_folder = tmp_path / "run"
    result = call_script(
        "eval.py",
        f"ckpt_path={trained_run.best_checkpoint}",
        setting,
        f"hydra.run.dir={run_folder}",
    )
    assert_refused(result, setting, expected)
    # No metrics, report, table or figure: the refused run's folder is gone.
    assert not run_folder.exists()


def test_bootstrap_intervals_need_a_resample():
    labels = np.repeat([0, 1], 10)
    with pytest.raises(ValueError, match="resamples must be at least 1"):
        bootstrap_intervals(labels, labels, 2, resamples=0)
    assert bootstrap_intervals(labels, labels, 2, resamples=1)["acc"] == (1.0, 1.0)


def test_early_season_cut_offs_send_only_lengths_from_1_to_the_time_steps(
    trained_run, prepared_file
):
    calls: list[tuple[list[int], int]] = []
    model = RecordingModel(load_classifier(trained_run.best_checkpoint), calls)
    datamodule = CropSequenceDataModule(str(prepared_file), batch_size=8)
    datamodule.setup()
    dropped = 0
    for last_month in (*CUTOFFS, None):
        found = predict(
            model,
            datamodule.test_dataloader(),
            lambda batch: datamodule.on_after_batch_transfer(batch, 0),
            last_month,
        )
        dropped += found.dropped
    assert dropped > 0  # some sequences had no image yet by a cut-off: they were not sent
    for lengths, steps in calls:
        assert min(lengths) >= 1 and max(lengths) <= steps, (lengths, steps)
