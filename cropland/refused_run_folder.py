"""Remove the run folder a refused run leaves: Hydra writes ``.hydra/`` and the log before the
work can check its input, so a run refused with a one-line error would otherwise leave a folder
that looks like a run and holds none. Only a folder holding nothing else is removed."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

# What Hydra writes into a run folder before the work starts.
_HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}

# Imported as a script starts, before Hydra makes the run folder: a file older than this is
# not this run's.
_STARTED = time.time()


def remove_refused_run_folder() -> Path | None:
    """Remove this single run's folder if it holds only what Hydra wrote; returns it if so."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.RUN:
        return None  # a multirun's job folders belong to its summary
    folder = Path(hydra.runtime.output_dir)
    # Not config.yaml beside .hydra/: the work writes it, and another run may have.
    expected = {".hydra", f"{hydra.job.name}.log"}
    try:
        entries = {entry.name: entry for entry in folder.iterdir()}
        if not entries or not set(entries) <= expected:
            return None
        inner = entries.get(".hydra")
        files = [entry for entry in entries.values() if entry is not inner]
        if inner is not None:
            if not inner.is_dir() or not {p.name for p in inner.iterdir()} <= _HYDRA_FILES:
                return None
            files += list(inner.iterdir())
        if any(path.is_symlink() or path.stat().st_mtime < _STARTED for path in files):
            return None
        if inner is not None:
            shutil.rmtree(inner)
        for name, entry in entries.items():
            if name != ".hydra":
                entry.unlink()
        folder.rmdir()
    except OSError:
        return None  # something else is there or appeared: leave it
    return folder
