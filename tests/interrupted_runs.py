"""Scripts run as a user runs them, patched so that a signal lands while they work: for the
tests of Ctrl-C, SIGTERM and killed runs."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from tests.script_runs import PROJECT_ROOT

# Generous for torch, Lightning and HDF5 in one process; a runaway allocation still stops.
MEMORY_LIMIT = 16 * 2**30

# scripts/<name>, run as a user runs it, once PATCH has made one step of its work create
# $READY_FILE (then wait, or go on slowly) so that a signal lands while it works.
PATCHED_RUN = """
import os, runpy, sys, time
from pathlib import Path

def ready():
    Path(os.environ["READY_FILE"]).touch()

{patch}
sys.argv = sys.argv[1:]  # [scripts/<name>, overrides...], as when run directly
runpy.run_path(sys.argv[0], run_name="__main__")
"""

WAIT_THERE = """
def wait_there(*args, **kwargs):
    ready()
    time.sleep(300)
"""


def _bounded_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def start_patched(
    script: str, overrides: list[str], tmp_path: Path, patch: str = ""
) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "CUDA_VISIBLE_DEVICES": "",
        "READY_FILE": str(tmp_path / "ready"),
        "TMPDIR": str(tmpdir_of(tmp_path)),
    }
    program = PATCHED_RUN.format(patch=patch)
    return subprocess.Popen(
        [sys.executable, "-c", program, str(PROJECT_ROOT / "scripts" / script), *overrides],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_bounded_memory,
    )


def tmpdir_of(tmp_path: Path) -> Path:
    folder = tmp_path / "tmpdir"
    folder.mkdir(exist_ok=True)
    return folder


def interrupt_once(process: subprocess.Popen, ready: Path, number: int) -> tuple[str, str]:
    """Send signal ``number`` once ``ready`` exists; the process's stdout and stderr."""
    deadline = time.monotonic() + 240
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(f"the run ended or hung before its work began:\n{err[-3000:]}")
        time.sleep(0.01)
    process.send_signal(number)
    return process.communicate(timeout=240)
