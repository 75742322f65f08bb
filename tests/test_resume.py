"""Resuming: a run killed during epoch 3 and resumed equals the run never interrupted; a run
extended to more epochs follows the new schedule; ckpt_path=last finds the newest run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cropland.training.scores import is_stage_score
from tests.script_runs import PROJECT_ROOT, TINY_TRAINING, call_script, run_script

# Four short epochs of a tiny network with every source of randomness on: shuffling, flips
# and 90-degree turns, dropout. Enough batches that epoch 3 lasts a while to be killed in.
RECIPE = [
    "data=prepared",
    "data.batch_size=4",
    "model=convlstm",
    "model.net.hidden_channels=[4,4]",
    "model.net.dropout=0.3",
    "trainer.max_epochs=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "callbacks.early_stopping=null",
    "callbacks.rich_progress_bar=null",
    "callbacks.sequence_figures=null",
    "logger=csv",
]


def _run_folder(log_dir: Path) -> list[Path]:
    return sorted((log_dir / "train" / "runs").iterdir())


def _epoch_rows(run: Path) -> dict[int, dict[str, str]]:
    """Every value logged at the end of each epoch (CSV logger), by epoch."""
    rows: dict[int, dict[str, str]] = {}
    for row in _csv_rows(run):
        values = {k: v for k, v in row.items() if v != "" and k not in ("step", "epoch")}
        values = {k: v for k, v in values.items() if k not in ("train/loss_step", "lr-Adam")}
        if values:
            rows.setdefault(int(row["epoch"]), {}).update(values)
    return rows


def _learning_rates(run: Path) -> dict[int, str]:
    """The learning rate at the start of each epoch, by global step (as the monitor logs it)."""
    return {int(row["step"]): row["lr-Adam"] for row in _csv_rows(run) if row["lr-Adam"]}


def _csv_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def _checkpoint_epoch(path: Path) -> int | None:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except Exception:  # not there yet, or being written
        return None


def _kill_during_third_epoch(overrides: list[str], run_parent: Path) -> Path:
    """Start a run, SIGKILL it once last.ckpt holds the end of epoch 2; its run folder."""
    command = [sys.executable, str(PROJECT_ROOT / "scripts" / "train.py"), *overrides]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            last = list(run_parent.glob("*/checkpoints/last.ckpt"))
            if last and _checkpoint_epoch(last[0]) == 1:  # epochs count from 0
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    (run,) = _run_folder(run_parent.parent.parent)
    return run


@pytest.mark.slow
def test_resume_after_sigkill_in_epoch_three_equals_the_uninterrupted_run(prepared_file, tmp_path):
    recipe = [*RECIPE, f"data.path={prepared_file}", "trainer.limit_train_batches=12"]
    straight = run_script("train.py", *recipe, f"paths.log_dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-3000:]
    (straight_run,) = _run_folder(tmp_path / "straight")

    interrupted_logs = tmp_path / "interrupted"
    killed = _kill_during_third_epoch(
        [*recipe, f"paths.log_dir={interrupted_logs}"], interrupted_logs / "train" / "runs"
    )
    # Killed during epoch 3: last.ckpt still holds the end of epoch 2.
    assert _checkpoint_epoch(killed / "checkpoints" / "last.ckpt") == 1
    assert not (killed / "metrics.json").exists()

    resumed = run_script("train.py", *recipe, f"paths.log_dir={interrupted_logs}", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_run = next(run for run in _run_folder(interrupted_logs) if run != killed)

    # Weights, optimizer state and schedule at the end: identical, not merely close.
    ends = [
        torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        for run in (straight_run, resumed_run)
    ]
    assert ends[0]["epoch"] == ends[1]["epoch"] == 3
    for name, weights in ends[0]["state_dict"].items():
        assert torch.equal(weights, ends[1]["state_dict"][name]), name
    assert ends[0]["lr_schedulers"] == ends[1]["lr_schedulers"]
    moments = [end["optimizer_states"][0]["state"] for end in ends]
    for key, state in moments[0].items():
        assert torch.equal(state["exp_avg"], moments[1][key]["exp_avg"]), key

    # Every value logged in epochs 3 and 4 (losses, scores, learning rate) is the same.
    straight_rows, resumed_rows = _epoch_rows(straight_run), _epoch_rows(resumed_run)
    assert min(resumed_rows) == 2  # the resumed run did not repeat epochs 1 and 2
    for epoch in (2, 3):
        assert resumed_rows[epoch] == straight_rows[epoch], epoch
        assert {"train/loss", "val/loss", "val/f1_macro"} <= set(straight_rows[epoch])
    resumed_rates = _learning_rates(resumed_run)
    assert len(resumed_rates) == 2
    assert resumed_rates.items() <= _learning_rates(straight_run).items()

    # Test scores of the best checkpoint, chosen over all four epochs, agree as well.
    scores = [json.loads((run / "metrics.json").read_text()) for run in (straight_run, resumed_run)]
    assert {k: v for k, v in scores[0].items() if is_stage_score(k, "test")} == {
        k: v for k, v in scores[1].items() if is_stage_score(k, "test")
    }


@pytest.mark.slow
def test_extending_a_finished_run_rebuilds_the_cosine_schedule(prepared_file, tmp_path):
    recipe = [*RECIPE, f"data.path={prepared_file}", "trainer.limit_train_batches=2"]
    logs = tmp_path / "logs"
    short = run_script("train.py", *recipe, "trainer.max_epochs=2", f"paths.log_dir={logs}")
    assert short.returncode == 0, short.stderr[-3000:]
    extended = run_script("train.py", *recipe, f"paths.log_dir={logs}", "ckpt_path=last")
    assert extended.returncode == 0, extended.stderr[-3000:]
    assert "T_max 2 -> 4" in extended.stdout + extended.stderr

    # From epoch 3 on, the learning rate is the one of a 4-epoch cosine schedule, not a climb
    # back up the 2-epoch one: torch's own scheduler, stepped alone, gives the expected rates.
    extended_rates = _learning_rates(_run_folder(logs)[-1])
    assert len(extended_rates) == 2
    expected = _cosine_rates(epochs=4)[2:]
    got = [float(extended_rates[step]) for step in sorted(extended_rates)]
    assert got == pytest.approx(expected, rel=1e-6)


def _cosine_rates(epochs: int) -> list[float]:
    """The rate at the start of each epoch of conf/scheduler/cosine.yaml with the Adam default."""
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=1e-5)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_ckpt_path_last_without_any_run_is_one_clear_line(prepared_file, tmp_path):
    result = call_script(
        "train.py",
        *RECIPE,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "ckpt_path=last",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ckpt_path=last: no run under")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            "model.net.hidden_channels=[8,8]",
            "model.net.hidden_channels=[8, 8] (the checkpoint has [4, 4])",
        ),
        ("data.channels=rgb", "data.channels: ['red', 'green', 'blue'] (the checkpoint has"),
    ],
)
def test_resuming_with_other_settings_names_them_in_one_line(
    change, named, trained_run, prepared_file, tmp_path
):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        f"ckpt_path={trained_run.best_checkpoint}",
        change,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: ckpt_path={trained_run.best_checkpoint} was trained with")
    assert named in line
    assert not list(tmp_path.glob("train/runs/*/config.yaml"))
