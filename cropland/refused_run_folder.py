"""Remove the run folder a refused run leaves: Hydra writes ``.hydra/`` and the log before the
work can check its input, so a run refused with a one-line error would otherwise leave a folder
that looks like a run and holds none. Only a folder holding nothing else is removed."""

from __future__ import annotations

import shutil
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

# What Hydra (and a script, before its work starts) writes into a run folder.
_HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}


def remove_refused_run_folder() -> Path | None:
    """Remove this single run's folder if it holds only what Hydra wrote; returns it if so."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.RUN:
        return None  # a multirun's job folders belong to its summary
    folder = Path(hydra.runtime.output_dir)
    expected = {".hydra", "config.yaml", f"{hydra.job.name}.log"}
    try:
        entries = {entry.name: entry for entry in folder.iterdir()}
        if not entries or not set(entries) <= expected:
            return None
        if any(entry.is_symlink() for entry in entries.values()):
            return None
        inner = entries.get(".hydra")
        if inner is not None:
            if not inner.is_dir() or not {p.name for p in inner.iterdir()} <= _HYDRA_FILES:
                return None
            shutil.rmtree(inner)
        for name, entry in entries.items():
            if name != ".hydra":
                entry.unlink()
        folder.rmdir()
    except OSError:
        return None  # something else is there or appeared: leave it
    return folder
