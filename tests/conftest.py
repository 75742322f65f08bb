"""Shared fixtures: one tiny synthetic tree, its prepared file and a trained run, built once per
session. Helpers that test modules import live in their own modules (``tests/script_runs.py``,
``tests/hydra_configs.py``, ...): a conftest is pytest's, not for importing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cropland.data.prepare import prepare_dataset
from cropland.data.synthetic import generate_tree
from cropland.training.train import train
from tests.extras import refuse_missing_extras
from tests.hydra_configs import run_config
from tests.script_runs import TINY_TRAINING, TrainedRun
from tests.tiny_tree import write_clean_tree


def pytest_configure(config: pytest.Config) -> None:
    """In CI (CROPLAND_REQUIRE_EXTRAS=1), a missing extra stops the run instead of skipping the
    tests that need it unseen."""
    refuse_missing_extras()


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


@pytest.fixture
def clean_tree(tmp_path: Path) -> Path:
    """A tiny PNG tree with nothing to skip (see ``tests/tiny_tree.py``), in ``tmp_path/tree``."""
    return write_clean_tree(tmp_path / "tree")


@pytest.fixture(scope="session")
def trained_run(prepared_file: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """A finished training run on ``prepared_file``, made by the pipeline scripts/train.py runs
    (in-process, to skip a second start of Python and Lightning): its folder (config.yaml,
    metrics.json with test/* metrics, checkpoints/) and its best checkpoint. Shared by the whole
    session: copy the folder before writing into it."""
    folder = tmp_path_factory.mktemp("trained_run")
    train(run_config("train", folder, *TINY_TRAINING, f"data.path={prepared_file}"))
    best = [path for path in (folder / "checkpoints").glob("*.ckpt") if path.name != "last.ckpt"]
    assert len(best) == 1, best
    return TrainedRun(folder, best[0])
