"""Running the project's scripts as users do, and the files and settings tests share with them.

Plain helpers, imported by test modules; the fixtures that use them are in ``conftest.py``.
"""

from __future__ import annotations

import io
import logging
import os
import resource
import runpy
import signal
import subprocess
import sys
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

from hydra.core.global_hydra import GlobalHydra

from cropland.run_names import ENV_RUN_NAME

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Files from elsewhere that the tests use (the published weights, three real patches); their
# licences are in tests/data/NOTICE.md.
TEST_DATA = Path(__file__).resolve().parent / "data"
PUBLISHED_WEIGHTS = TEST_DATA / "published_best_model.pth"
REAL_PATCHES = TEST_DATA / "real_patches"


def run_script(
    script: str,
    *overrides: str,
    cwd: Path | None = None,
    memory_limit: int | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run ``scripts/<script>`` the way a user does, in a subprocess; never raises on failure.

    ``memory_limit`` caps the process's address space in bytes, so that an attempt to allocate
    more fails at once instead of swapping the machine; ``timeout`` (seconds) stops a hang.
    """
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": ""}

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / script), *overrides],
        cwd=cwd or PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit_memory if memory_limit is not None else None,
    )


def call_script(script: str, *overrides: str) -> subprocess.CompletedProcess:
    """Run ``scripts/<script>`` in this process exactly as ``python scripts/<script> ...`` runs
    it (same ``sys.argv``, run as ``__main__``), output captured; never raises on failure.

    For checks that stop before real work (bad settings, refused files): they then take a
    fraction of a second instead of a new start of Python, torch and Lightning. Work that
    needs a process of its own (signals, DDP, file-size limits) uses :func:`run_script`.
    """
    path = PROJECT_ROOT / "scripts" / script
    stdout, stderr = io.StringIO(), io.StringIO()
    handlers, level = logging.root.handlers[:], logging.root.level
    sigterm, sigint = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    argv, code = sys.argv, 0
    sys.argv = [str(path), *overrides]
    # Each call is a run of its own: in one process, calls within one second would otherwise
    # get one run folder name (time and process id), and the second be refused as a rerun.
    run_name = os.environ.get(ENV_RUN_NAME)
    os.environ[ENV_RUN_NAME] = run_name or f"{script.removesuffix('.py')}-{uuid.uuid4().hex}"
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
        signal.signal(signal.SIGTERM, sigterm)
        signal.signal(signal.SIGINT, sigint)
        if run_name is None:
            del os.environ[ENV_RUN_NAME]
    return subprocess.CompletedProcess(
        [script, *overrides], code, stdout.getvalue(), stderr.getvalue()
    )


class TrainedRun(NamedTuple):
    folder: Path
    best_checkpoint: Path


# A run of the real train config that takes seconds: tiny network, two batches, one epoch.
TINY_TRAINING = [
    "data=prepared",
    "data.batch_size=4",
    "model=convlstm",
    "model.net.hidden_channels=[4,4]",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.accelerator=cpu",
    # Full precision wherever bf16 is native too: these runs check behaviour, and bf16 costs
    # time on models this small; tests/test_precision.py runs the hardware's choice.
    "trainer.precision=32-true",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]
