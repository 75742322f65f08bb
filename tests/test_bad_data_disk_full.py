"""A full disk while preparing: one line, exit 2, nothing left behind, and no segfault.

HDF5 cannot recover from a failed write (h5py issues 914, 1775, 2160): a later close of the
broken file crashed the process with a segfault (exit 139) after the error was printed. The
scripts run here under a file size limit (``ulimit -f``), whose writes fail with EFBIG as a
full disk's fail with ENOSPC; in-process tests make ``os.pwrite`` fail with ENOSPC.
"""

from __future__ import annotations

import errno
import gc
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cropland.data.hdf5_write_sink import HDF5WriteError
from cropland.data.layout import CHANNELS, CLASSES
from cropland.data.prepare import prepare_dataset
from cropland.data.prepared_file import (
    PreparedFile,
    RecordTable,
    SequenceTable,
    write_prepared_file,
)
from cropland.errors import CroplandError
from tests.script_runs import PROJECT_ROOT


def run_prepare_with_file_size_limit(limit: int, *overrides: str) -> subprocess.CompletedProcess:
    """scripts/prepare.py as a user runs it, where no file may grow past ``limit`` bytes."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        # Without this the kernel ends the process with SIGXFSZ instead of failing the write.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "prepare.py"), *overrides],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size,
    )


@pytest.mark.parametrize("where", ["first_pixels", "last_metadata"])
def test_full_disk_is_one_line_and_leaves_nothing(
    synthetic_tree: Path, prepared_file: Path, tmp_path: Path, where: str
) -> None:
    # The same tree prepared without a limit gives a file of this size; a limit just under it
    # makes the last writes fail, those HDF5 makes when the file is closed.
    limit = 100_000 if where == "first_pixels" else prepared_file.stat().st_size - 100
    out = tmp_path / "out"
    dst = out / "ca.h5"

    result = run_prepare_with_file_size_limit(
        limit,
        f"src={synthetic_tree}",
        f"dst={dst}",
        "progress=false",
        f"paths.log_dir={tmp_path / 'logs'}",
    )

    assert result.returncode == 2, result.stderr[-3000:]  # not 139, a segfault
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: could not write dst={dst}: disk full or file too large (File too large); "
        "free space and run prepare again"
    )
    assert list(out.iterdir()) == []  # no temp file, no dst, no summary


def fail_writes_after(monkeypatch: pytest.MonkeyPatch, limit: int, failure: int) -> None:
    """Make every ``os.pwrite`` that reaches past ``limit`` bytes fail with ``failure``."""
    pwrite = os.pwrite

    def pwrite_until_full(fd: int, data, offset: int) -> int:
        if offset + len(data) > limit:
            raise OSError(failure, os.strerror(failure))
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite_until_full)


def tiny_tables(records: int) -> tuple[RecordTable, SequenceTable]:
    """``records`` records of one point, in one sequence (all of one month: dates need only be
    in order)."""
    text = np.array(["QC"] * records, dtype=object)
    return (
        RecordTable(np.full(records, 1), np.full(records, 201906), text, text, text),
        SequenceTable(
            start=np.array([0]),
            length=np.array([records]),
            point=np.array([1]),
            province=text[:1],
            year=np.array([2019]),
            label=np.array([0]),
            split_folder=text[:1],
        ),
    )


@pytest.mark.parametrize("limit", [2_000, 200_000, 1_000_000])
def test_a_failed_write_raises_once_and_the_process_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """In-process: before the fix, the garbage collector's close of the broken HDF5 file
    crashed the test process itself."""
    records = 64
    pixels = np.random.default_rng(0).integers(0, 256, (records, 8, 65, 65), dtype=np.uint8)
    attrs = {"classes": list(CLASSES), "channels": list(CHANNELS), "image_size": 65}
    fail_writes_after(monkeypatch, limit, errno.ENOSPC)

    with pytest.raises(HDF5WriteError) as error:
        write_prepared_file(tmp_path / "ca.h5", *tiny_tables(records), np.split(pixels, 8), attrs)
    gc.collect()

    assert error.value.errno == errno.ENOSPC
    assert isinstance(error.value.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()  # the same process writes a good file afterwards
    write_prepared_file(tmp_path / "ca.h5", *tiny_tables(records), np.split(pixels, 8), attrs)
    np.testing.assert_array_equal(PreparedFile(tmp_path / "ca.h5").read_pixels(), pixels)


def test_prepare_turns_a_full_disk_into_a_croplanderror(
    synthetic_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "out" / "ca.h5"
    fail_writes_after(monkeypatch, 300_000, errno.ENOSPC)

    with pytest.raises(CroplandError) as error:
        prepare_dataset(synthetic_tree, dst, progress=False)

    assert str(error.value) == (
        f"could not write dst={dst}: disk full or file too large (No space left on device); "
        "free space and run prepare again"
    )
    assert list(dst.parent.iterdir()) == []


def test_an_existing_dst_is_kept_when_overwriting_it_fails(
    synthetic_tree: Path, prepared_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "ca.h5"
    dst.write_bytes(prepared_file.read_bytes())
    fail_writes_after(monkeypatch, 300_000, errno.EDQUOT)

    with pytest.raises(CroplandError, match="disk full or file too large"):
        prepare_dataset(synthetic_tree, dst, progress=False, overwrite=True)

    assert dst.read_bytes() == prepared_file.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.h5"]
