"""The per-epoch history a training run prints, logs to train.log and writes as history.csv,
and the Lightning start-up lines it no longer prints."""

import csv

from tests.script_runs import TINY_TRAINING, call_script


def test_a_run_keeps_one_row_per_epoch_on_screen_in_the_log_and_as_csv(prepared_file, tmp_path):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "trainer.max_epochs=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    for row in rows:
        assert 0 <= float(row["val_acc"]) <= 1 and float(row["train_loss"]) > 0
        assert float(row["lr"]) > 0 and float(row["seconds"]) > 0
    # The best so far never decreases and comes from a row whose score it is.
    best = [float(row["best"]) for row in rows]
    assert best == sorted(best)
    assert best[-1] == max(float(row["val_f1_macro"]) for row in rows)
    output = result.stdout + result.stderr
    for row in rows:
        line = f"{row['epoch']}/2 {float(row['train_loss']):6.3f}"
        assert line in output.replace("   ", " "), output[-2000:]
    log = (run / "train.log").read_text()
    assert log.count("cropland.epoch_history") == 2


def test_lightning_start_up_noise_is_gone(prepared_file, tmp_path):
    result = call_script(
        "train.py", *TINY_TRAINING, f"data.path={prepared_file}", f"paths.log_dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in ("GPU available", "TPU available", "litlogger", "FLOPs", "model summary"):
        assert noise not in output, noise
    assert "Model " in output and "parameters" in output
