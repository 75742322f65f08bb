"""One folder per run: runs and multiruns started at the same moment never share one, and the
processes of one torchrun launch always do."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.script_runs import PROJECT_ROOT, TINY_TRAINING

TIME_FIRST = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\w+$")


def _start(*overrides: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("CROPLAND_RUN_NAME", None)
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "train.py"), *overrides],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_runs_and_multiruns_started_together_get_their_own_folders(prepared_file, tmp_path):
    common = [*TINY_TRAINING, f"data.path={prepared_file}", f"paths.log_dir={tmp_path}"]
    processes = [_start(*common), _start(*common), _start("-m", *common), _start("-m", *common)]
    for process in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]

    runs = sorted((tmp_path / "train" / "runs").iterdir())
    multiruns = sorted((tmp_path / "train" / "multiruns").iterdir())
    assert len(runs) == 2 and len(multiruns) == 2
    for folder in runs + multiruns:
        assert TIME_FIRST.match(folder.name), folder.name
    for job in [*runs, *(folder / "0" for folder in multiruns)]:
        assert (job / "config.yaml").is_file() and (job / "metrics.json").is_file(), job
        assert len(list((job / "checkpoints").glob("epoch_*.ckpt"))) == 1, job


# Prints the run folder name that two workers of one torchrun-like launch resolve.
_LAUNCH = """
import subprocess, sys
child = "import cropland.run_names as r; print(r.run_name())"
names = [subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                        check=True).stdout.strip() for _ in range(2)]
print(" ".join(names))
"""


def _launch(env: dict) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LAUNCH], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_workers_of_one_torchrun_launch_share_a_name_and_launches_do_not():
    env = {k: v for k, v in os.environ.items() if k != "CROPLAND_RUN_NAME"}
    first = _launch({**env, "TORCHELASTIC_RUN_ID": "none"})
    second = _launch({**env, "TORCHELASTIC_RUN_ID": "none"})
    assert first[0] == first[1] and second[0] == second[1]
    assert first[0] != second[0]
    assert TIME_FIRST.match(first[0])

    plain = _launch(env)  # not under torchrun: every process is a run of its own
    assert plain[0] != plain[1]

    assert (
        _launch({**env, "CROPLAND_RUN_NAME": "2026-11-29_10-00-00_slurm7"})
        == ["2026-11-29_10-00-00_slurm7"] * 2
    )
