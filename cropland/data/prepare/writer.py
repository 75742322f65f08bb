"""The streaming writer: the selected records' pixels into the prepared file, batch by batch.

Images were checked when they were selected; here they are read and decoded again, a batch at a
time, so that memory holds about two batches whatever the dataset's size.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.progress import Progress

from cropland.data.prepare.grouping import Record, Selection
from cropland.data.prepared_file import RecordTable, write_prepared_file
from cropland.errors import CroplandError, short_reason

# Records decoded and written together: a few megabytes of pixels, whatever the dataset's size.
BATCH_RECORDS = 256

# What a full disk, a full quota or a file size limit (ulimit -f) make writes fail with.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def write_selection(
    dst: Path, selection: Selection, attrs: dict, progress: Progress, overwrite: bool
) -> None:
    """Write ``selection`` into ``dst`` atomically, replacing a file there only with
    ``overwrite``; a failed write raises :class:`CroplandError`, leaving no temp file and
    ``dst`` as it was."""
    batches = _pixel_batches(selection.records, progress)
    try:
        write_prepared_file(
            dst, _record_table(selection.records), selection.sequences, batches, attrs, overwrite
        )
    except OSError as error:
        raise CroplandError(
            write_failed_message(f"dst={dst}", error, "run prepare again")
        ) from error


def write_failed_message(what: str, error: OSError, then: str) -> str:
    """One line for a failed write of ``what``; its temporary file is already removed."""
    if error.errno in _DISK_FULL:
        return (
            f"could not write {what}: disk full or file too large "
            f"({os.strerror(error.errno)}); free space and {then}"
        )
    cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
    return (
        f"could not write {what} ({short_reason(cause)}); check that its folder exists and is "
        f"writable, then {then}"
    )


def _record_table(records: list[Record]) -> RecordTable:
    names = [r.name for r in records]
    return RecordTable(
        point=np.asarray([n.point for n in names], dtype=np.int64),
        date=np.asarray([n.date for n in names], dtype=np.int32),
        province=np.asarray([n.province for n in names], dtype=object),
        crop=np.asarray([n.crop for n in names], dtype=object),
        split_folder=np.asarray([r.split_folder for r in records], dtype=object),
    )


def _pixel_batches(records: list[Record], progress: Progress) -> Iterator[np.ndarray]:
    """Decode records batch by batch, in file order; at most two batches live at a time."""
    per_record = len(records[0].patches)
    task = progress.add_task("writing pixels", total=len(records) * per_record)
    batches = [records[i : i + BATCH_RECORDS] for i in range(0, len(records), BATCH_RECORDS)]
    # Decode the next batch in a thread while HDF5 compresses this one: h5py releases the
    # GIL while compressing, so the two overlap (Pillow's decoding does not, hence one thread).
    # Its PNG bytes are read here, before the write: reading the published HDF5 needs h5py's
    # lock, which the writer holds while it compresses, so reads in the thread would wait for
    # every write and the overlap would be lost.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_decode_batch, batches[0], _read_batch(batches[0]))
        for following in [*batches[1:], None]:
            pixels = pending.result()
            if following is not None:
                pending = pool.submit(_decode_batch, following, _read_batch(following))
            yield pixels
            progress.advance(task, len(pixels) * per_record)


def _read_batch(records: list[Record]) -> list[list[bytes]]:
    return [record.read() for record in records]


def _decode_batch(records: list[Record], pngs: list[list[bytes]]) -> np.ndarray:
    return np.stack([record.decode(png) for record, png in zip(records, pngs, strict=True)])
