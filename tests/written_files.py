"""What a script leaves on disk: a folder's files with their bytes, to compare before and
after, and the id of an ended process, to name a temporary file a killed run left behind."""

from __future__ import annotations

import subprocess


def contents(folder) -> dict[str, bytes]:
    """Every file under ``folder`` (Hydra's run folder aside), by relative path, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "hydra" not in path.relative_to(folder).parts
    }


def dead_pid() -> int:
    """The id of a process that has ended (a child, waited for)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
