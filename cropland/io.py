"""Writing files so that a reader never sees a half-written one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as JSON into a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
