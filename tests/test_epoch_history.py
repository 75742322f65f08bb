"""The per-epoch history a training run prints, logs to train.log and writes as history.csv,
and the Lightning start-up lines it no longer prints."""

import csv
import os
import subprocess
import sys

from tests.script_runs import PROJECT_ROOT, TINY_TRAINING, call_script


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


def test_a_default_run_prints_four_lines_before_its_first_epoch(prepared_file, tmp_path):
    # The user's default run (progress bar, TensorBoard, no batch limits), on the tiny file;
    # one stream in the order it was written, as a terminal shows it.
    command = [sys.executable, str(PROJECT_ROOT / "scripts" / "train.py"), "data=prepared"]
    command += [f"data.path={prepared_file}", f"paths.log_dir={tmp_path}"]
    command += ["trainer.max_epochs=2", "trainer.accelerator=cpu", "data.batch_size=4"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        text=True,
        timeout=600,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["epoch", "t.loss"])
    before = lines[:header]
    expected = ("Sequences: train", "Seed set to", "Precision ", "Model ")
    assert len(before) == len(expected), before
    for line, start in zip(before, expected, strict=True):
        assert start in line, before
