"""A damaged prepared file (a bad disk block, a copy cut short): one line saying to prepare it
again, from every reader and script, instead of a traceback from deep inside h5py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from cropland.data.prepared_file import DamagedFileError, PreparedFile
from cropland.data.sequence_dataset import CropSequenceDataset, pad_sequences
from cropland.data.splits import VAL, assign_splits
from tests.script_runs import TINY_TRAINING, TrainedRun, call_script


def damage_sequence(path: Path, sequence: int) -> None:
    """Overwrite bytes in the middle of each compressed chunk of one sequence's records."""
    sequences = PreparedFile(path).sequences
    start, length = int(sequences.start[sequence]), int(sequences.length[sequence])
    with h5py.File(path, "r") as f:
        pixels = f["pixels"].id
        chunks = [
            pixels.get_chunk_info_by_coord((r, 0, 0, 0)) for r in range(start, start + length)
        ]
    with open(path, "r+b") as raw:
        for chunk in chunks:
            raw.seek(chunk.byte_offset + chunk.size // 2)
            raw.write(b"\xff" * 64)


def first_validation_sequence(path: Path) -> int:
    """The first sequence the validation loader reads, with the default data settings."""
    split_ids = assign_splits(PreparedFile(path).sequences, "stratified", 0.1, 0.1, 42)
    return int(np.flatnonzero(split_ids == VAL)[0])


@pytest.fixture(scope="module")
def damaged_chunks(prepared_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared file with the records of its first validation sequence damaged: training
    reads every training sequence before the first batch, and no validation one."""
    path = tmp_path_factory.mktemp("damaged") / "chunks.h5"
    shutil.copy(prepared_file, path)
    damage_sequence(path, first_validation_sequence(path))
    return path


@pytest.fixture(scope="module")
def cut_short(prepared_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared file cut in the middle, as by an interrupted copy."""
    path = tmp_path_factory.mktemp("damaged") / "cut.h5"
    data = prepared_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def assert_one_line_saying_prepare_again(result: subprocess.CompletedProcess, path: Path) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith(f"error: {path} is damaged: cannot read ")
    assert errors[0].endswith(f" dst={path} overwrite=true")
    return errors[0]


# --- the scripts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["damaged_chunks", "cut_short"])
def test_describe(damage: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    path = request.getfixturevalue(damage)
    result = call_script(
        "describe.py", f"data.path={path}", "progress=false", f"paths.log_dir={tmp_path}"
    )
    line = assert_one_line_saying_prepare_again(result, path)
    if damage == "damaged_chunks":  # its attributes still say which tree it came from
        source = PreparedFile(path).source
        assert f"prepare it again: python scripts/prepare.py src={source} dst=" in line


@pytest.mark.parametrize(
    ("damage", "reading"),
    [
        ("damaged_chunks", ["data.in_memory=true"]),  # in setup, all at once
        ("damaged_chunks", ["data.in_memory=false"]),  # by the validation loader
        ("damaged_chunks", ["data.in_memory=false", "data.num_workers=1"]),  # in its worker
        ("cut_short", []),
    ],
    ids=["in_memory", "per_sequence", "in_a_loader_worker", "cut_short"],
)
def test_train(
    damage: str, reading: list[str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = request.getfixturevalue(damage)
    result = call_script(
        "train.py", *TINY_TRAINING, f"data.path={path}", f"paths.log_dir={tmp_path}", *reading
    )
    line = assert_one_line_saying_prepare_again(result, path)
    if reading == ["data.in_memory=false"]:
        start = int(PreparedFile(path).sequences.start[first_validation_sequence(path)])
        assert f"cannot read the pixels of records {start} to " in line


def test_eval(damaged_chunks: Path, trained_run: TrainedRun, tmp_path: Path) -> None:
    result = call_script(
        "eval.py",
        f"ckpt_path={trained_run.best_checkpoint}",
        f"data.path={damaged_chunks}",
        f"paths.log_dir={tmp_path}",
    )
    assert_one_line_saying_prepare_again(result, damaged_chunks)


# --- the readers ---------------------------------------------------------------------------------


def test_every_way_of_reading_pixels_says_the_file_is_damaged(damaged_chunks: Path) -> None:
    source = PreparedFile(damaged_chunks)  # the tables are fine
    damaged = first_validation_sequence(damaged_chunks)
    start = int(source.sequences.start[damaged])
    advice = f"prepare it again: python scripts/prepare.py src={source.source} dst={damaged_chunks}"
    dataset = CropSequenceDataset(
        damaged_chunks, source.records, source.sequences, np.array([damaged]), [0, 1, 2]
    )

    for read in (
        source.read_pixels,
        lambda: list(source.iter_pixels(block=8)),
        lambda: source.read_records(start, start + 1),
        lambda: dataset[0],
    ):
        with pytest.raises(DamagedFileError) as error:
            read()
        message = str(error.value)
        assert message.startswith(f"{damaged_chunks} is damaged: cannot read the pixels of ")
        assert advice in message and "\n" not in message


def test_a_loader_worker_raises_the_same_one_line_error(damaged_chunks: Path) -> None:
    source = PreparedFile(damaged_chunks)
    damaged = first_validation_sequence(damaged_chunks)
    dataset = CropSequenceDataset(
        damaged_chunks, source.records, source.sequences, np.array([damaged]), [0, 1, 2]
    )
    with pytest.raises(DamagedFileError) as in_main:
        dataset[0]
    loader = torch.utils.data.DataLoader(dataset, num_workers=1, collate_fn=pad_sequences)

    with pytest.raises(DamagedFileError) as from_worker:
        next(iter(loader))

    # torch builds the error again from the worker's traceback; only the message is kept.
    assert str(from_worker.value) == str(in_main.value)


def test_the_undamaged_sequences_still_read(damaged_chunks: Path, prepared_file: Path) -> None:
    damaged = first_validation_sequence(damaged_chunks)
    source, original = PreparedFile(damaged_chunks), PreparedFile(prepared_file)
    other = damaged + 1 if damaged + 1 < len(source.sequences) else damaged - 1
    start = int(source.sequences.start[other])
    stop = start + int(source.sequences.length[other])
    np.testing.assert_array_equal(
        source.read_records(start, stop), original.read_records(start, stop)
    )


def test_a_file_cut_short_is_damaged_and_a_file_of_another_kind_is_not(
    cut_short: Path, tmp_path: Path
) -> None:
    with pytest.raises(DamagedFileError, match=r"cut\.h5 is damaged: cannot read the file \("):
        PreparedFile(cut_short)

    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("not an HDF5 file")
    with pytest.raises(Exception) as error:
        PreparedFile(not_hdf5)
    assert not isinstance(error.value, DamagedFileError)
    assert "is not an HDF5 file" in str(error.value)
