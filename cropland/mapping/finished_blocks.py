"""Finished blocks of a map run, kept so that a stopped run goes on where it stopped.

The parts folder holds what the run was started with (``run.json``: checkpoint, input files
and settings) and one compressed file per finished block, each written whole under a
temporary name and renamed. A run with the same ``run.json`` uses them; one with other
settings is refused rather than mixing two maps.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from cropland.errors import CroplandError
from cropland.io import atomic_output, write_json_atomic

_RUN = "run.json"
# What a finished block keeps, and in what type.
_PARTS = {
    "classes": np.uint8,
    "probabilities": np.uint8,
    "confidence": np.uint8,
    "windows_per_month": np.int64,
    "month_bits": np.uint16,
}


def file_identity(path: Path) -> dict:
    status = path.stat()
    return {"path": str(path.resolve()), "bytes": status.st_size, "modified": status.st_mtime_ns}


class FinishedBlocks:
    def __init__(self, folder: Path, run: dict, overwrite: bool) -> None:
        self.folder = folder
        run = json.loads(json.dumps(run))  # as it reads back from the file
        record = folder / _RUN
        if record.exists():
            try:
                earlier = json.loads(record.read_text())
            except (OSError, ValueError):
                earlier = None
            if earlier != run and not overwrite:
                raise CroplandError(
                    f"{folder} holds the blocks of a stopped map run with other settings, "
                    "checkpoint or input; run that command again to finish it, or remove the "
                    "folder (or set overwrite=true) to start this one"
                )
            if earlier != run:
                shutil.rmtree(folder)
        elif folder.exists() and any(folder.iterdir()):
            raise CroplandError(
                f"{folder} exists and is not the parts folder of a map run; move it away, or "
                "choose another output"
            )
        folder.mkdir(parents=True, exist_ok=True)
        if not record.exists():
            write_json_atomic(record, run)

    def _path(self, number: int) -> Path:
        return self.folder / f"block_{number:06d}.npz"

    def load(self, number: int, shape: tuple[int, int], classes: int, months: int) -> dict | None:
        """A finished block's parts, or None when it is not finished (or unreadable)."""
        path = self._path(number)
        if not path.exists():
            return None
        expected = {
            "classes": shape,
            "probabilities": (classes, *shape),
            "confidence": shape,
            "windows_per_month": (months,),
            "month_bits": shape,
        }
        # The sizes the archive declares, before anything is unpacked: a crafted file stays small.
        # (A block kept by an earlier version, without month_bits, is mapped again.)
        limit = max(classes, 2) * shape[0] * shape[1] + 4096
        try:
            with zipfile.ZipFile(path) as archive:
                if any(info.file_size > limit for info in archive.infolist()):
                    return None
            with np.load(path, allow_pickle=False) as stored:
                parts = {key: stored[key] for key in _PARTS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        if any(parts[k].shape != expected[k] for k in _PARTS):
            return None
        if any(parts[k].dtype != _PARTS[k] for k in _PARTS):
            return None
        return parts

    def count(self) -> int:
        """How many blocks an earlier run finished (each is checked again when loaded)."""
        return sum(1 for _ in self.folder.glob("block_*.npz"))

    def save(self, number: int, parts: dict) -> None:
        with atomic_output(self._path(number), overwrite=True) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{k: parts[k] for k in _PARTS})

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
