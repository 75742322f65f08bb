"""benchmarks/data.py runs end to end (``--quick``) and prints its targets block."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_benchmark_prints_every_part_and_the_targets(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.data", "--quick", "--workdir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for title in ("1. prepare", "2. loader", "3. model", "4. scripts/train.py"):
        assert f"\n{title}" in out
    targets = out.split("\ntargets\n", 1)[1].splitlines()
    assert targets[0].startswith("  loader >= 50x the model: ")
    assert targets[1].startswith("  training peak RSS <= 1.2 GB: ")
    assert targets[2].startswith("  prepare <= 120 s: ")
    assert all(line.split(": ", 1)[1].startswith(("met", "NOT MET")) for line in targets[:3])
    # Four loader settings plus the published augmentation, each with its verdict.
    loader_table = out.split("\n2. loader", 1)[1].split("\n3. model", 1)[0]
    assert loader_table.count(" met") + loader_table.count("NOT MET") == 5
    assert "Traceback" not in result.stderr
