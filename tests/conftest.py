"""Shared test data: one tiny synthetic tree and its prepared file, built once per session."""

from __future__ import annotations

import io
import logging
import os
import runpy
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from cropland.data.prepare import prepare_dataset
from cropland.data.synthetic import generate_tree
from cropland.training.train import train

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Files from elsewhere that the tests use (the published weights, three real patches); their
# licences are in tests/data/NOTICE.md.
TEST_DATA = Path(__file__).resolve().parent / "data"
PUBLISHED_WEIGHTS = TEST_DATA / "published_best_model.pth"
REAL_PATCHES = TEST_DATA / "real_patches"


@pytest.fixture(scope="session")
def synthetic_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "tree"
    generate_tree(root, num_points=120, seed=3, progress=False)
    return root


@pytest.fixture(scope="session")
def prepared_file(synthetic_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("prepared") / "tiny.h5"
    prepare_dataset(synthetic_tree, dst, progress=False)
    return dst


def run_script(
    script: str, *overrides: str, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``scripts/<script>`` the way a user does, in a subprocess; never raises on failure."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / script), *overrides],
        cwd=cwd or PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
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
    sigterm = signal.getsignal(signal.SIGTERM)
    argv, code = sys.argv, 0
    sys.argv = [str(path), *overrides]
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
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]


@pytest.fixture(scope="session")
def trained_run(prepared_file: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """A finished training run on ``prepared_file``, made by the pipeline scripts/train.py runs
    (in-process, to skip a second start of Python and Lightning): its folder (config.yaml,
    metrics.json with test/* metrics, checkpoints/) and its best checkpoint. Shared by the whole
    session: copy the folder before writing into it."""
    folder = tmp_path_factory.mktemp("trained_run")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[*TINY_TRAINING, f"data.path={prepared_file}"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder)
        del cfg.hydra  # as in a real run, the task sees its config without Hydra's own
    try:
        train(cfg)
    finally:
        GlobalHydra.instance().clear()
    best = [path for path in (folder / "checkpoints").glob("*.ckpt") if path.name != "last.ckpt"]
    assert len(best) == 1, best
    return TrainedRun(folder, best[0])
