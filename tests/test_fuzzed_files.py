"""A few hundred random mutations of a valid prepared file and of a valid checkpoint (seeded, so
a failure can be replayed with tests/fuzz_files.py): each is refused in one line or read into
something usable, never a traceback, under a memory limit and a timeout."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections import Counter

import pytest

from tests.script_runs import PROJECT_ROOT

CASES = 200
# Each case is small; a crafted size that got through would try to allocate far more.
MEMORY_LIMIT = 3 * 1024**3


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["prepared", "checkpoint"])
def test_mutated_files_are_refused_in_one_line_or_read_whole(kind, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_files", kind, "0", str(CASES), str(tmp_path / "work")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cases = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(cases) == CASES
    errors = [case for case in cases if case["outcome"] == "error"]
    assert not errors, "\n".join(f"{e['mutation']}: {e['detail']}" for e in errors[:5])
    outcomes = Counter(case["outcome"] for case in cases)
    # Most mutations break the file, some leave it usable: both routes were taken.
    assert outcomes["refused"] > CASES / 2 and outcomes["read"] > 0, outcomes
