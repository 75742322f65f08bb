"""The shape of a refusal a user can act on: exit status 2 and one ``error:`` line, no
traceback."""

from __future__ import annotations

import subprocess


def assert_refused(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit status 2 and one ``error:`` line holding every ``expected`` text; returns it."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]
