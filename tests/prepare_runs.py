"""Preparing as the tests need it: the function, quietly, the script, as a user runs it, and
what a summary skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cropland.data.prepare import prepare_dataset
from tests.script_runs import run_script


def prepare(src: Path, dst: Path, **kwargs) -> dict:
    return prepare_dataset(src, dst, progress=False, **kwargs)


def run_prepare(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_script("prepare.py", *overrides, f"paths.log_dir={tmp_path / 'logs'}")


def skipped_paths(summary: dict, reason: str) -> set[str]:
    return {item["path"] for item in summary["skipped"] if item["reason"] == reason}


def details(summary: dict, reason: str) -> list[str]:
    return [item["detail"] for item in summary["skipped"] if item["reason"] == reason]
