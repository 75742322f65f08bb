"""Prepared files whose format is right but whose content is not (crafted or hand-edited): one
line naming the dataset or attribute, before any table, size or pixel is believed."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import cropland.data.prepared_checks.datasets as dataset_checks
from cropland.data.layout import CHANNELS, CLASSES, SENSORS
from cropland.data.prepared_file import (
    PreparedFile,
    PreparedFileError,
    RecordTable,
    SequenceTable,
    write_prepared_file,
)
from tests.refusals import assert_refused
from tests.script_runs import TINY_TRAINING, TrainedRun, run_script

SIZE = 8
LENGTHS = [3, 2, 4]
MEMORY_LIMIT = 2 * 2**30  # the scripts refuse in far less; a 7 GiB allocation fails at once


def write_valid_file(path: Path) -> Path:
    """Three sequences (3, 2 and 4 records) of 8x8 images with every channel."""
    starts = np.concatenate([[0], np.cumsum(LENGTHS)[:-1]])
    records = sum(LENGTHS)
    points, provinces, years = [1, 2, 3], ["QC", "SK", "QC"], [2019, 2020, 2019]
    records_of = np.repeat(np.arange(len(LENGTHS)), LENGTHS)
    months = np.concatenate([6 + np.arange(n) for n in LENGTHS])
    text = np.array(["training"] * records, dtype=object)
    record_table = RecordTable(
        point=np.asarray(points)[records_of],
        date=(np.asarray(years)[records_of] * 100 + months).astype(np.int32),
        province=np.asarray(provinces, dtype=object)[records_of],
        crop=np.array(["BARLEY", "BARLEY", "BARLEY", "RICE", "RICE"] + ["SOYBEAN"] * 4, object),
        split_folder=text,
    )
    sequence_table = SequenceTable(
        start=starts,
        length=np.asarray(LENGTHS),
        point=np.asarray(points),
        province=np.asarray(provinces, dtype=object),
        year=np.asarray(years),
        label=np.array([0, -1, 8]),
        split_folder=text[:3],
    )
    pixels = np.random.default_rng(0).integers(0, 256, (records, len(CHANNELS), SIZE, SIZE))
    attrs = {
        "classes": list(CLASSES),
        "channels": list(CHANNELS),
        "sensors": list(SENSORS),
        "image_size": SIZE,
        "min_length": 2,
        "source": "/data/tree",
        "source_format": "png_tree",
    }
    write_prepared_file(path, record_table, sequence_table, [pixels.astype(np.uint8)], attrs)
    return path


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_valid_file(tmp_path_factory.mktemp("valid") / "valid.h5")


def altered(valid_file: Path, folder: Path, change: Callable[[h5py.File, Path], None]) -> Path:
    """A copy of ``valid_file`` in ``folder`` with ``change(file, folder)`` applied."""
    path = folder / "altered.h5"
    shutil.copy(valid_file, path)
    with h5py.File(path, "r+") as f:
        change(f, folder)
    return path


def replace(name: str, data=None, **options) -> Callable[[h5py.File, Path], None]:
    """A change that writes dataset ``name`` anew (``data`` is given the old values)."""

    def change(f: h5py.File, folder: Path) -> None:
        old = f[name][()]
        del f[name]
        if data is None:
            f.create_dataset(name, **options)
        else:
            f.create_dataset(name, data=data(old) if callable(data) else data, **options)

    return change


def set_value(name: str, index, value) -> Callable[[h5py.File, Path], None]:
    def change(f: h5py.File, folder: Path) -> None:
        f[name][index] = value

    return change


def set_attribute(name: str, value) -> Callable[[h5py.File, Path], None]:
    def change(f: h5py.File, folder: Path) -> None:
        f.attrs[name] = value

    return change


def delete_attribute(name: str) -> Callable[[h5py.File, Path], None]:
    def change(f: h5py.File, folder: Path) -> None:
        del f.attrs[name]

    return change


def resize_table(group: str, rows: int) -> Callable[[h5py.File, Path], None]:
    """Every column of ``group`` declared ``rows`` long, none of it written."""

    def change(f: h5py.File, folder: Path) -> None:
        for name in list(f[group]):
            dtype = f[group][name].dtype
            del f[group][name]
            f[group].create_dataset(name, shape=(rows,), dtype=dtype, chunks=True)

    return change


def records_declared_huge(f: h5py.File, folder: Path) -> None:
    """A billion records and their pixels declared, none written: 62 GiB of fill zeros."""
    resize_table("records", 10**9)(f, folder)
    del f["pixels"]
    f.create_dataset("pixels", shape=(10**9, *PIXELS[1:]), dtype=np.uint8, chunks=(1, *PIXELS[1:]))


def records_in_another_file(f: h5py.File, folder: Path) -> None:
    with h5py.File(folder / "other.h5", "w") as other:
        f.copy("records", other)
    del f["records"]
    f["records"] = h5py.ExternalLink("other.h5", "/records")


def virtual_points(f: h5py.File, folder: Path) -> None:
    points = f["records/point"][()]
    with h5py.File(folder / "other.h5", "w") as other:
        other["point"] = points
    layout = h5py.VirtualLayout(shape=points.shape, dtype=points.dtype)
    layout[:] = h5py.VirtualSource(str(folder / "other.h5"), "point", shape=points.shape)
    del f["records/point"]
    f["records"].create_virtual_dataset("point", layout)


def pixels_on_a_pipe(f: h5py.File, folder: Path) -> None:
    """Pixels stored in an external file that is a FIFO: reading it would wait forever."""
    shape = f["pixels"].shape
    del f["pixels"]
    raw = folder / "pixels.raw"
    raw.write_bytes(b"")
    f.create_dataset("pixels", shape=shape, dtype=np.uint8, external=[(str(raw), 0, 2**30)])
    raw.unlink()
    os.mkfifo(raw)


def points_as_a_soft_link(f: h5py.File, folder: Path) -> None:
    del f["records/point"]
    f["records/point"] = h5py.SoftLink("/sequences/point")


def unsorted_dates(f: h5py.File, folder: Path) -> None:
    dates = f["records/date"]
    dates[0], dates[1] = dates[1], dates[0]


def one_gap_between_sequences(f: h5py.File, folder: Path) -> None:
    f["sequences/length"][0] = 2  # the first sequence now ends a record before the second starts


RECORDS = sum(LENGTHS)
PIXELS = (RECORDS, len(CHANNELS), SIZE, SIZE)

# (id, change, text the one line must hold)
HOSTILE = [
    # sequences that point outside the records or overlap
    ("length_zero", set_value("sequences/length", 1, 0), "/sequences/length[1] is 0"),
    ("length_negative", set_value("sequences/length", 1, -3), "/sequences/length[1] is -3"),
    ("length_huge", set_value("sequences/length", 1, 10**9), "/sequences/length[1] is 1000000000"),
    ("start_negative", set_value("sequences/start", 1, -2), "/sequences/start[1] is -2"),
    ("start_huge", set_value("sequences/start", 1, 10**6), "/sequences/start[1] is 1000000"),
    ("start_overlapping", set_value("sequences/start", 2, 4), "/sequences/start[2] is 4"),
    ("gap", one_gap_between_sequences, "/sequences/start[1] is 3, expected 2"),
    ("unsorted", unsorted_dates, "/records/date[0:3] is not sorted"),
    ("wrong_point", set_value("sequences/point", 2, 7), "/sequences/point[2] is 7"),
    ("wrong_year", set_value("sequences/year", 0, 2018), "/sequences/year[0] is 2018"),
    ("wrong_province", set_value("sequences/province", 1, "QC"), "/sequences/province[1]"),
    # dates
    ("month_13", set_value("records/date", 0, 201913), "/records/date[0] is 201913"),
    ("month_00", set_value("records/date", 4, 202000), "/records/date[4] is 202000"),
    ("year_0", set_value("records/date", 0, 6), "/records/date[0] is 6"),
    # pixels
    (
        "float_pixels",
        replace("pixels", lambda old: old.astype(np.float64) * 1000),
        "/pixels is of dtype float64, expected uint8",
    ),
    (
        "three_channels",
        replace("pixels", lambda old: old[:, :3]),
        f"/pixels is of shape {(RECORDS, 3, SIZE, SIZE)}",
    ),
    ("few_rows", replace("pixels", lambda old: old[:5]), "/pixels is of shape (5, "),
    (
        "pixels_never_written",
        replace("pixels", shape=PIXELS, dtype=np.uint8, chunks=(1, *PIXELS[1:]), compression=4),
        f"/pixels is {RECORDS} of {RECORDS} chunks never written",
    ),
    (
        "contiguous_pixels_never_written",
        replace("pixels", shape=PIXELS, dtype=np.uint8),
        f"/pixels is declared as {np.prod(PIXELS)} bytes",
    ),
    (
        "pixels_declared_huge",
        replace("pixels", shape=(10**12 // 512, 8, 8, 8), dtype=np.uint8, chunks=(1, 8, 8, 8)),
        "/pixels is of shape (1953125000, 8, 8, 8)",
    ),
    ("records_declared_huge", records_declared_huge, "/pixels is 1000000000 of 1000000000 chunks"),
    (
        "start_declared_long",
        replace("sequences/start", shape=(10**9,), dtype=np.int64, chunks=(4096,)),
        "/sequences/length is 3 long, expected as long as /sequences/start (1000000000)",
    ),
    ("more_sequences_than_records", resize_table("sequences", 10), "/sequences is 10 rows for 9"),
    (
        "scale_offset",
        replace("records/point", lambda old: old, chunks=(9,), scaleoffset=0),
        "/records/point is compressed with HDF5 filter 6",
    ),
    # columns
    ("short_label", replace("sequences/label", lambda old: old[:2]), "/sequences/label is 2 long"),
    ("label_99", set_value("sequences/label", 0, 99), "/sequences/label[0] is 99"),
    ("label_minus_5", set_value("sequences/label", 2, -5), "/sequences/label[2] is -5"),
    (
        "float_label",
        replace("sequences/label", lambda old: old.astype(np.float64)),
        "/sequences/label is of dtype float64, expected int64",
    ),
    (
        "string_label",
        replace(
            "sequences/label", lambda old: old.astype(str).astype(object), dtype=h5py.string_dtype()
        ),
        "/sequences/label is of dtype object, expected int64",
    ),
    (
        "two_dimensional_label",
        replace("sequences/label", lambda old: np.stack([old, old], axis=1)),
        "/sequences/label is of shape (3, 2), expected a 1-D column",
    ),
    (
        "wide_date",
        replace("records/date", lambda old: old.astype(np.int64)),
        "/records/date is of dtype int64, expected int32",
    ),
    (
        "numeric_province",
        replace("records/province", lambda old: np.zeros(len(old))),
        "/records/province is of dtype float64, expected strings",
    ),
    (
        "control_character_in_crop",
        set_value("records/crop", 0, "CORN\nerror: fake"),
        "/records/crop is holding 'CORN\\nerror: fake'",
    ),
    ("missing_column", lambda f, _: f["sequences"].pop("year"), "/sequences/year is missing"),
    # attributes
    (
        "classes_a_string",
        set_attribute("classes", json.dumps("BARLEYCANOLA")),
        "attribute 'classes' is no usable list of class names (a str, expected a list",
    ),
    (
        "classes_ints",
        set_attribute("classes", json.dumps([1, 2])),
        "attribute 'classes' is no usable list of class names (entry 0 is a int",
    ),
    (
        "a_million_classes",
        set_attribute("classes", json.dumps([f"C{i}" for i in range(10**6)])),
        "characters long, expected a JSON string of at most 1000000",
    ),
    (
        "too_many_classes",
        set_attribute("classes", json.dumps([f"C{i}" for i in range(1001)])),
        "(1001 class names, expected 1 to 1000)",
    ),
    (
        "pickled_classes",
        set_attribute("classes", np.void(pickle.dumps(list(CLASSES)))),
        "attribute 'classes' is a void, expected a JSON string",
    ),
    (
        "classes_as_an_array",
        set_attribute("classes", np.array(CLASSES, dtype=h5py.string_dtype())),
        "attribute 'classes' is a ndarray, expected a JSON string",
    ),
    ("missing_classes", delete_attribute("classes"), "attribute 'classes' is missing"),
    ("not_json", set_attribute("channels", "[red"), "attribute 'channels' is not valid JSON"),
    (
        "deeply_nested",
        set_attribute("channels", "[" * 100_000),
        "attribute 'channels' is not valid JSON",
    ),
    (
        "unknown_channel",
        set_attribute("channels", json.dumps(["red", "infrared"])),
        "attribute 'channels' is a list holding 'infrared'",
    ),
    (
        "channels_disagree_with_sensors",
        set_attribute("channels", json.dumps(list(reversed(CHANNELS)))),
        "attribute 'sensors' is",
    ),
    (
        "image_size_text",
        set_attribute("image_size", json.dumps("8")),
        "attribute 'image_size' is '8'",
    ),
    (
        "image_size_other",
        set_attribute("image_size", json.dumps(65)),
        "/pixels is of shape (9, 8, 8, 8), expected (9, 8, 65, 65)",
    ),
    (
        "source_with_a_newline",
        set_attribute("source", json.dumps("/data\nerror: fake")),
        "attribute 'source' is '/data\\nerror: fake'",
    ),
    ("format_version_float", set_attribute("format_version", 1.5), "has format version '1.5'"),
    # data outside the file
    ("external_link", records_in_another_file, "/records is an external link to other.h5"),
    ("virtual_dataset", virtual_points, "/records/point is a virtual dataset"),
    ("external_storage", pixels_on_a_pipe, "/pixels stores its data in external file(s)"),
    ("soft_link", points_as_a_soft_link, "/records/point is a soft link to /sequences/point"),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_a_hostile_file_is_refused_in_one_line(
    valid_file: Path, tmp_path: Path, change, expected: str
) -> None:
    path = altered(valid_file, tmp_path, change)

    with pytest.raises(PreparedFileError) as error:
        PreparedFile(path)

    message = str(error.value)
    assert expected in message, message
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert "python scripts/prepare.py src=" in message


def test_a_refused_attribute_names_the_source_to_prepare_again(
    valid_file: Path, tmp_path: Path
) -> None:
    path = altered(valid_file, tmp_path, set_attribute("classes", np.void(b"\x80\x04")))
    with pytest.raises(PreparedFileError, match=f"src=/data/tree dst={path} overwrite=true$"):
        PreparedFile(path)


def test_a_pixel_chunk_larger_than_the_limit_is_refused(
    valid_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset_checks, "MAX_PIXEL_CHUNK_BYTES", 500)
    with pytest.raises(PreparedFileError, match=r"/pixels is chunked in \(1, 8, 8, 8\) \(512 by"):
        PreparedFile(valid_file)


def test_the_valid_file_reads_as_written(valid_file: Path) -> None:
    source = PreparedFile(valid_file)
    assert source.sequences.length.tolist() == LENGTHS
    assert source.records.month.tolist() == [6, 7, 8, 6, 7, 6, 7, 8, 9]
    assert source.pixel_shape == PIXELS


def repack(f: h5py.File, folder: Path) -> None:
    """Every dataset rewritten chunked with gzip 9 and shuffle, tables of one repeated value
    and pixels of zeros: as compressed as a real file can get."""
    for name in ["pixels", *(f"{g}/{c}" for g in ("records", "sequences") for c in f[g])]:
        values = f[name][()]
        if name == "pixels":
            values = np.zeros_like(values)
        del f[name]
        f.create_dataset(name, data=values, compression="gzip", compression_opts=9, shuffle=True)


def test_a_file_repacked_with_gzip_still_reads(valid_file: Path, tmp_path: Path) -> None:
    path = altered(valid_file, tmp_path, repack)
    np.testing.assert_array_equal(PreparedFile(path).read_pixels(), 0)


def test_narrower_integer_columns_read_as_the_documented_dtypes(
    valid_file: Path, tmp_path: Path
) -> None:
    path = altered(
        valid_file, tmp_path, replace("sequences/label", lambda old: old.astype(np.int8))
    )
    label = PreparedFile(path).sequences.label
    assert label.dtype == np.int64 and label.tolist() == [0, -1, 8]


def test_the_prepared_fixture_passes(prepared_file: Path) -> None:
    assert len(PreparedFile(prepared_file).sequences) > 0


# --- the scripts, as users run them --------------------------------------------------------------


def assert_refused_before_any_work(result, path: Path, expected: str, logs: Path) -> None:
    line = assert_refused(result, str(path), expected, "python scripts/prepare.py src=")
    assert not list(logs.rglob("describe.json")) and not list(logs.rglob("*.ckpt")), line


@pytest.mark.slow
def test_describe_refuses_pixels_declared_huge(valid_file: Path, tmp_path: Path) -> None:
    change = replace("pixels", shape=(10**12 // 512, 8, 8, 8), dtype=np.uint8, chunks=(1, 8, 8, 8))
    path = altered(valid_file, tmp_path, change)
    logs = tmp_path / "logs"
    result = run_script(
        "describe.py",
        f"data.path={path}",
        "progress=false",
        f"paths.log_dir={logs}",
        memory_limit=MEMORY_LIMIT,
        timeout=120,
    )
    assert_refused_before_any_work(result, path, "/pixels is of shape (1953125000, ", logs)


@pytest.mark.slow
def test_train_refuses_class_names_spelled_as_one_string(valid_file: Path, tmp_path: Path) -> None:
    path = altered(valid_file, tmp_path, set_attribute("classes", json.dumps("BARLEYCANOLA")))
    logs = tmp_path / "logs"
    result = run_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={path}",
        "data.in_memory=true",
        f"paths.log_dir={logs}",
        memory_limit=MEMORY_LIMIT,
        timeout=120,
    )
    assert_refused_before_any_work(result, path, "attribute 'classes' is no usable list", logs)


@pytest.mark.slow
def test_predict_refuses_pixels_stored_on_a_pipe(
    valid_file: Path, trained_run: TrainedRun, tmp_path: Path
) -> None:
    path = altered(valid_file, tmp_path, pixels_on_a_pipe)
    output = tmp_path / "out" / "predictions.csv"
    result = run_script(
        "predict.py",
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={path}",
        f"output={output}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        memory_limit=MEMORY_LIMIT,
        timeout=120,
    )
    assert_refused(result, str(path), "/pixels stores its data in external file(s)")
    assert not output.exists()
