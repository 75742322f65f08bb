"""The TensorBoard figures are drawn on the first epoch and every n-th after it (drawing cost
more than a default-run epoch's training steps); the test confusion matrix once; a bad n gets
one line naming its key."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cropland.training.train import train
from tests.hydra_configs import run_config
from tests.refusals import assert_refused
from tests.script_runs import TINY_TRAINING, call_script

TRAINING = [o for o in TINY_TRAINING if not o.startswith(("logger=", "trainer.max_epochs="))]


def image_steps(run_dir: Path) -> dict[str, list[int]]:
    """The global steps at which each image tag was logged."""
    steps: dict[str, list[int]] = {}
    for events in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["images"]:
            steps.setdefault(tag, []).extend(event.step for event in accumulator.Images(tag))
    return {tag: sorted(found) for tag, found in steps.items()}


def test_figures_come_on_the_first_epoch_and_every_nth_after_it(prepared_file, tmp_path):
    cfg = run_config(
        "train",
        tmp_path,
        *TRAINING,
        f"data.path={prepared_file}",
        "trainer.max_epochs=3",
        "logger=tensorboard",
        "callbacks.sequence_figures.every_n_epochs=2",
        "callbacks.confusion_figures.every_n_epochs=2",
    )
    train(cfg)
    steps = image_steps(tmp_path)
    # 2 training batches per epoch: epochs 0 and 2 end at global steps 2 and 6.
    assert steps["val/sequences"] == [2, 6]
    assert steps["val/confusion_matrix"] == [2, 6]
    assert len(steps["test/confusion_matrix"]) == 1


@pytest.mark.parametrize("callback", ["sequence_figures", "confusion_figures"])
@pytest.mark.parametrize("value", ["0", "two", "1.5"])
def test_a_bad_cadence_is_refused_in_one_line(callback, value, prepared_file, tmp_path):
    key = f"callbacks.{callback}.every_n_epochs"
    settings = [f"data.path={prepared_file}", f"{key}={value}", f"paths.log_dir={tmp_path}"]
    result = call_script("train.py", *TINY_TRAINING, *settings)
    assert_refused(result, f"{key}=", "expected a whole number of epochs >= 1")
