"""The settings of how batches are loaded, as opposed to which data and split: the part of
``conf/data`` that prediction takes too, checked the same way for both."""

from __future__ import annotations

from cropland.errors import CroplandError

LOADER_SETTINGS = ("batch_size", "num_workers", "in_memory")


def check_loader_settings(batch_size: object, num_workers: object, in_memory: object) -> None:
    """One line naming the ``data.`` key for a loader setting that cannot work."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise CroplandError(
            f"data.batch_size={batch_size!r}: expected a whole number of sequences per batch, "
            "at least 1, e.g. 16"
        )
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise CroplandError(
            f"data.num_workers={num_workers!r}: expected 0 (load in the main process) or a "
            "positive number of worker processes"
        )
    if in_memory not in (True, False, "auto"):
        raise CroplandError(f"data.in_memory={in_memory!r}: expected true, false or auto")
