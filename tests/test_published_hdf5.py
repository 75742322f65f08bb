"""Preparing from the published project's HDF5: same result as the tree, skips, errors, script."""

from __future__ import annotations

import dataclasses
import io
import json
import random
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import CLASSES, IMAGE_SIZE, SENSORS, UNKNOWN_CLASS
from cropland.data.prepare import prepare_summary_path
from cropland.data.prepared_file import PreparedFile
from cropland.data.published_hdf5 import SPLIT_FOLDER
from cropland.errors import CroplandError
from tests.prepare_runs import prepare, run_prepare
from tests.published_format import PublishedRow, rows_from_tree, write_published_file
from tests.sixteen_bit_png import png_16_bit_rgb

# --- the same data as the tree gives the same file ---------------------------------------------


@pytest.fixture(scope="module")
def published_file(synthetic_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = rows_from_tree(synthetic_tree)
    random.Random(0).shuffle(rows)  # the row order must not matter
    path = tmp_path_factory.mktemp("published") / "dataset_ca_19.hdf5"
    return write_published_file(path, rows)


@pytest.fixture(scope="module")
def converted(published_file: Path) -> Path:
    dst = published_file.with_name("from_published.h5")
    prepare(published_file, dst)
    return dst


def test_same_records_and_sequences_as_the_tree(prepared_file: Path, converted: Path) -> None:
    tree, published = PreparedFile(prepared_file), PreparedFile(converted)

    assert len(published.records) == len(tree.records) > 0
    for column in ("point", "date", "province", "crop"):
        np.testing.assert_array_equal(
            getattr(published.records, column), getattr(tree.records, column), err_msg=column
        )
    for column in ("start", "length", "point", "province", "year", "label"):
        np.testing.assert_array_equal(
            getattr(published.sequences, column), getattr(tree.sequences, column), err_msg=column
        )


def test_same_pixels_as_the_tree(prepared_file: Path, converted: Path) -> None:
    np.testing.assert_array_equal(
        PreparedFile(converted).read_pixels(), PreparedFile(prepared_file).read_pixels()
    )


def test_records_have_no_split_folder_and_the_summary_says_so(
    prepared_file: Path, converted: Path
) -> None:
    summary = json.loads(prepare_summary_path(converted).read_text())
    tree_summary = json.loads(prepare_summary_path(prepared_file).read_text())

    assert summary["source_format"] == "published_hdf5"
    assert summary["skipped"] == [] and tree_summary["skipped"] == []
    assert summary["records_per_split_folder"] == {SPLIT_FOLDER: tree_summary["records"]}
    for crop, counts in summary["sequences_per_class"].items():
        assert counts == {SPLIT_FOLDER: sum(tree_summary["sequences_per_class"][crop].values())}
    assert set(PreparedFile(converted).records.split_folder) == {SPLIT_FOLDER}


def test_predefined_split_is_refused_with_advice(converted: Path) -> None:
    datamodule = CropSequenceDataModule(path=str(converted), split="predefined")
    with pytest.raises(CroplandError, match="without training/validation/test folders.*stratified"):
        datamodule.setup("fit")


def test_the_published_file_is_closed_afterwards(published_file: Path, tmp_path: Path) -> None:
    prepare(published_file, tmp_path / "out.h5")
    with h5py.File(published_file, "a"):  # HDF5 refuses this while a read handle is open
        pass


# --- bad rows are skipped with their row number ------------------------------------------------


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def images(point: int, month: int) -> dict[str, bytes | Path]:
    rng = np.random.default_rng([point, month])
    return {
        sensor: png(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8))
        for sensor in SENSORS
    }


def sequence(point: int, crop: str = "CORN", region: str = "QC") -> list[PublishedRow]:
    label = CLASSES.index(crop) if crop in CLASSES else -1
    return [
        PublishedRow(point, f"2019{month:02d}", region, crop, label, images(point, month))
        for month in (7, 8, 9)
    ]


def test_bad_rows_are_skipped_by_reason(tmp_path: Path) -> None:
    rows = [row for point in range(1, 12) for row in sequence(point)]
    rows += sequence(12, crop="FALLOW")  # a crop outside the classes, label -1: kept as in a tree
    # Three rows per point: row 3 * (point - 1) is the point's July.
    rows[3] = dataclasses.replace(rows[3], label=CLASSES.index("OAT"))  # point 2
    rows[6] = dataclasses.replace(rows[6], date="2019-07")  # point 3
    rows[9] = dataclasses.replace(rows[9], region="Quebec")  # point 4
    rows[12] = dataclasses.replace(rows[12], crop_type="corn")  # point 5
    rows[15] = dataclasses.replace(rows[15], images={**rows[15].images, "NDVI": b""})  # point 6
    truncated = rows[18].images["PSRI"][:100]
    rows[18] = dataclasses.replace(rows[18], images={**rows[18].images, "PSRI": truncated})
    small = png(np.zeros((IMAGE_SIZE - 1, IMAGE_SIZE, 3), np.uint8))
    rows[21] = dataclasses.replace(rows[21], images={**rows[21].images, "GNDVI": small})
    rows.append(dataclasses.replace(rows[24], images=images(9, 99)))  # point 9 twice in July
    rows[27] = dataclasses.replace(rows[27], crop_type="FALLOW", label=CLASSES.index("CORN"))
    rows[30] = dataclasses.replace(rows[30], point=-1)  # point 11
    src = write_published_file(tmp_path / "ca.hdf5", rows)

    summary = prepare(src, tmp_path / "out.h5", min_length=2)

    assert summary["skipped_by_reason"] == {
        "bad_crop": 1,
        "bad_date": 1,
        "bad_image_in_record": 3 * 5,
        "bad_point": 1,
        "duplicate_record": 2 * 6,
        "label_mismatch": 2,
        "unknown_province": 1,
        "unreadable": 2,
        "wrong_size": 1,
    }
    reasons = {item["path"]: item["reason"] for item in summary["skipped"]}
    assert reasons[f"{src}[row 3]"] == "label_mismatch"
    assert reasons[f"{src}[row 6]"] == "bad_date"
    assert reasons[f"{src}[row 9]"] == "unknown_province"
    assert reasons[f"{src}[row 12]"] == "bad_crop"
    assert reasons[f"{src}[row 15]/NDVI"] == "unreadable"
    assert reasons[f"{src}[row 15]/RGB"] == "bad_image_in_record"
    assert reasons[f"{src}[row 18]/PSRI"] == "unreadable"
    assert reasons[f"{src}[row 21]/GNDVI"] == "wrong_size"
    assert reasons[f"{src}[row {len(rows) - 1}]/RGB"] == "duplicate_record"
    assert reasons[f"{src}[row 24]/RGB"] == "duplicate_record"
    assert reasons[f"{src}[row 27]"] == "label_mismatch"
    assert reasons[f"{src}[row 30]"] == "bad_point"
    # Each point keeps its two good dates; the unknown crop keeps three, with label -1.
    sequences = PreparedFile(tmp_path / "out.h5").sequences
    assert list(sequences.point) == list(range(1, 13))
    assert list(sequences.length) == [3] + [2] * 10 + [3]
    assert sequences.label[-1] == UNKNOWN_CLASS


def test_a_16_bit_rgb_png_in_a_row_is_skipped_as_wrong_mode(tmp_path: Path) -> None:
    """The published file's PNGs are decoded as a tree's are: 16 bits is refused alike."""
    rows = sequence(1) + sequence(2)
    rgb = np.random.default_rng(0).integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    rows[1] = dataclasses.replace(rows[1], images={**rows[1].images, "RGB": png_16_bit_rgb(rgb)})
    src = write_published_file(tmp_path / "ca.hdf5", rows)

    summary = prepare(src, tmp_path / "out.h5", min_length=2)

    assert summary["skipped_by_reason"] == {"bad_image_in_record": 5, "wrong_mode": 1}
    reasons = {item["path"]: item["reason"] for item in summary["skipped"]}
    assert reasons[f"{src}[row 1]/RGB"] == "wrong_mode"
    assert PreparedFile(tmp_path / "out.h5").sequences.length.tolist() == [2, 3]


def test_printed_summary_names_rows(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    rows = sequence(1) + sequence(2)
    rows[4] = dataclasses.replace(rows[4], date="201913")
    src = write_published_file(tmp_path / "ca.hdf5", rows)

    prepare(src, tmp_path / "out.h5", min_length=2)

    printed = capsys.readouterr().out
    assert any("bad_date" in line and "[row 4]" in line for line in printed.splitlines())
    assert SPLIT_FOLDER in printed


# --- files that are not the published layout ---------------------------------------------------


@pytest.fixture
def small_published(tmp_path: Path) -> Path:
    return write_published_file(tmp_path / "ca.hdf5", sequence(1) + sequence(2))


def prepare_error(src: Path, tmp_path: Path) -> str:
    with pytest.raises(CroplandError) as error:
        prepare(src, tmp_path / "out.h5")
    message = str(error.value)
    assert "\n" not in message and str(src) in message
    return message


def test_hdf5_without_a_sensor_names_what_is_missing(small_published: Path, tmp_path) -> None:
    with h5py.File(small_published, "a") as f:
        del f["PSRI"]
    message = prepare_error(small_published, tmp_path)
    assert "not the published dataset_ca_19.hdf5" in message
    assert "lacks the root dataset(s) PSRI" in message


def test_hdf5_of_another_kind_of_data(small_published: Path, tmp_path: Path) -> None:
    with h5py.File(small_published, "a") as f:
        del f["DATE"]
        f["DATE"] = np.full(6, 201907)
    assert "dataset DATE holds int64, expected utf-8 strings" in prepare_error(
        small_published, tmp_path
    )


def test_datasets_of_different_lengths(small_published: Path, tmp_path: Path) -> None:
    with h5py.File(small_published, "a") as f:
        del f["LABEL"]
        f["LABEL"] = np.zeros(5, np.int64)
    assert "one row per record" in prepare_error(small_published, tmp_path)


def test_a_prepared_file_is_not_prepared_again(prepared_file: Path, tmp_path: Path) -> None:
    message = prepare_error(prepared_file, tmp_path)
    assert "already a prepared cropland file" in message and "data.path=" in message


def test_a_file_that_is_not_hdf5(tmp_path: Path) -> None:
    src = tmp_path / "dataset_ca_19.hdf5"  # the name does not make it one
    src.write_bytes(b"PK\x03\x04 a zip archive")
    assert "is not a folder or an HDF5 file" in prepare_error(src, tmp_path)


def test_an_hdf5_file_is_recognised_whatever_its_name(tmp_path: Path) -> None:
    src = write_published_file(tmp_path / "download.bin", sequence(1))
    assert prepare(src, tmp_path / "out.h5")["records"] == 3


def test_dst_may_not_be_the_published_file_itself(small_published: Path, tmp_path) -> None:
    before = small_published.read_bytes()
    with pytest.raises(CroplandError, match=r"is src=.* itself"):
        prepare(small_published, small_published, overwrite=True)
    assert small_published.read_bytes() == before


# --- the script, run the way users run it ------------------------------------------------------


def test_script_prepares_the_published_file(small_published: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.h5"
    result = run_prepare(tmp_path, f"src={small_published}", f"dst={dst}")

    assert result.returncode == 0, result.stderr
    assert list(PreparedFile(dst).sequences.point) == [1, 2]


def test_script_reports_a_wrong_hdf5_in_one_line(small_published: Path, tmp_path: Path) -> None:
    with h5py.File(small_published, "a") as f:
        del f["RGB"]
    result = run_prepare(tmp_path, f"src={small_published}", f"dst={tmp_path / 'out.h5'}")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "lacks the root dataset(s) RGB" in lines[0]
