"""Shared test data: one tiny synthetic tree and its prepared file, built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cropland.data.prepare import prepare_dataset
from cropland.data.synthetic import generate_tree

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
