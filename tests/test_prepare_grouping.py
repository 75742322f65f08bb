"""Preparation's grouping: patches into records and sequences, and what is skipped and why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropland.data.layout import (
    CHANNELS,
    CLASSES,
    IMAGE_SIZE,
    SENSORS,
    UNKNOWN_CLASS,
    PatchName,
    patch_path,
)
from cropland.data.prepared_file import PreparedFile
from cropland.errors import CroplandError
from tests.prepare_runs import details, prepare, skipped_paths
from tests.sixteen_bit_png import png_16_bit_rgb
from tests.tiny_tree import expected_record, patch_pixels, write_record, write_sequence

# --- records and sequences ---------------------------------------------------------------------


def test_sequences_are_contiguous_and_sorted_by_date(clean_tree: Path, tmp_path: Path) -> None:
    prepare(clean_tree, tmp_path / "out.h5")
    prepared = PreparedFile(tmp_path / "out.h5")
    records, sequences = prepared.records, prepared.sequences

    assert list(sequences.start) == [0, 5]
    assert list(sequences.length) == [5, 3]
    assert list(sequences.point) == [1, 2]
    assert list(sequences.label) == [CLASSES.index("CORN"), CLASSES.index("SPRING_WHEAT")]
    assert list(sequences.split_folder) == ["training", "validation"]
    assert list(sequences.year) == [2019, 2019]
    for start, length, point in zip(
        sequences.start, sequences.length, sequences.point, strict=True
    ):
        dates = records.date[start : start + length]
        assert list(dates) == sorted(dates)
        assert set(records.point[start : start + length]) == {point}
    assert list(records.province[5:]) == ["SK"] * 3


def test_min_length_keeps_shorter_sequences(clean_tree: Path, tmp_path: Path) -> None:
    summary = prepare(clean_tree, tmp_path / "out.h5", min_length=2)
    assert (summary["records"], summary["sequences"], summary["sequences_too_short"]) == (10, 3, 0)


def test_mixed_split_folders_use_the_majority(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7], split="test")
    write_sequence(root, 1, [8], split="validation")

    summary = prepare(root, tmp_path / "out.h5")

    prepared = PreparedFile(tmp_path / "out.h5")
    assert list(prepared.sequences.split_folder) == ["test"]
    assert list(prepared.records.split_folder) == ["test", "test", "validation"]
    assert summary["sequences_mixed_split_folders"] == 1


def test_unknown_crop_is_kept_with_label_minus_one(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8], crop="FALLOW")

    summary = prepare(root, tmp_path / "out.h5")

    assert list(PreparedFile(tmp_path / "out.h5").sequences.label) == [UNKNOWN_CLASS]
    assert summary["unknown_class_sequences"] == {
        "FALLOW": {"training": 1, "validation": 0, "test": 0}
    }


def test_sensors_option_needs_and_stores_only_those_sensors(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [7, 8], sensors=("RGB", "GNDVI"))
    write_sequence(root, 2, [7], sensors=("RGB",))  # lacks GNDVI: skipped
    summary = prepare(root, tmp_path / "out.h5", min_length=1, sensors=["RGB", "GNDVI"])
    prepared = PreparedFile(tmp_path / "out.h5")
    assert prepared.channels == ["red", "green", "blue", "gndvi"]
    assert prepared.sequences.point.tolist() == [1]
    pixels = prepared.read_pixels()
    kept = [CHANNELS.index(c) for c in ("red", "green", "blue", "gndvi")]
    np.testing.assert_array_equal(pixels[0], expected_record(1, 201907)[kept])
    assert summary["skipped_by_reason"] == {"missing_sensor": 1}
    with pytest.raises(CroplandError, match="sensors"):
        prepare(root, tmp_path / "other.h5", sensors=["EVI"])


# --- defects are skipped and counted by reason ------------------------------------------------


def test_defects_are_skipped_by_reason(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])  # clean

    write_sequence(root, 10, [6, 7, 8])
    write_record(root, 10, 201909, sensors=SENSORS[:-1])  # PSRI missing
    write_sequence(root, 11, [6, 7, 8])
    truncated = write_record(root, 11, 201909)["NDVI"]
    truncated.write_bytes(truncated.read_bytes()[:200])
    write_sequence(root, 12, [6, 7, 8])
    wrong_size = write_record(root, 12, 201909)["GNDVI"]
    Image.new("RGB", (64, 64)).save(wrong_size)
    write_sequence(root, 13, [6, 7, 8])
    wrong_mode = write_record(root, 13, 201909)["RGB"]
    Image.new("L", (IMAGE_SIZE, IMAGE_SIZE)).save(wrong_mode)  # RGB needs three channels

    write_sequence(root, 20, [6, 7])
    write_record(root, 20, 201908, crop="SOYBEAN")  # same point and year, another crop
    write_sequence(root, 21, [6, 7, 8, 9])
    write_record(root, 21, 201909, split="test")  # the same patches in two split folders
    write_sequence(root, 22, [6, 7, 8, 9])
    write_record(root, 22, 201909, crop="OAT", sensors=("RGB",))  # one image in two classes

    (root / "RGB" / "training" / "Thumbs.db").write_bytes(b"\0" * 10)
    (root / "NDVI" / "readme.txt").write_text("notes")
    bad_name = root / "RGB" / "training" / "CORN" / "POINT_x_201907_QC_CORN_RGB.png"
    bad_name.write_bytes(b"")
    misplaced = (
        root / "NDVI" / "training" / "CORN" / PatchName(1, 201910, "QC", "CORN", "RGB").filename
    )
    Image.fromarray(patch_pixels(1, 201910, "RGB")).save(misplaced)

    summary = prepare(root, tmp_path / "out.h5")

    assert summary["skipped_by_reason"] == {
        "bad_image_in_record": 15,  # the five other sensors of each of three bad records
        "bad_name": 1,
        "duplicate_record": 12 + 7,
        "label_conflict": 18,
        "misplaced": 1,
        "missing_sensor": 5,
        "stray_file": 2,
        "unreadable": 1,
        "wrong_mode": 1,
        "wrong_size": 1,
    }
    reasons = {item["path"]: item["reason"] for item in summary["skipped"]}
    assert reasons[str(truncated)] == "unreadable"
    assert reasons[str(wrong_size)] == "wrong_size"
    assert reasons[str(wrong_mode)] == "wrong_mode"
    assert reasons[str(bad_name)] == "bad_name"
    assert reasons[str(misplaced)] == "misplaced"
    assert reasons[str(root / "RGB" / "training" / "Thumbs.db")] == "stray_file"
    # Every defective point keeps its three good dates, except the label conflict (point 20).
    prepared = PreparedFile(tmp_path / "out.h5")
    assert list(prepared.sequences.point) == [1, 10, 11, 12, 13, 21, 22]
    assert list(prepared.sequences.length) == [3] * 7
    assert summary["records"] == 21


def test_duplicate_records_list_every_copy(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    copies = write_record(root, 1, 201907, split="test")  # the same point and date again
    originals = {p for p in (root / "RGB").rglob("*_201907_*")} | {
        root / patch_path(PatchName(1, 201907, "QC", "CORN", s), "training") for s in SENSORS
    }

    summary = prepare(root, tmp_path / "out.h5", min_length=2)

    involved = {str(p) for p in originals | set(copies.values())}
    assert skipped_paths(summary, "duplicate_record") == involved
    assert len(involved) == 2 * len(SENSORS)
    assert "point 1 on 201907 has several" in details(summary, "duplicate_record")[0]
    assert list(PreparedFile(tmp_path / "out.h5").records.date) == [201906, 201908]


def test_label_change_within_a_year_lists_the_point_files(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7], crop="CORN")
    write_record(root, 1, 201908, crop="SOYBEAN")
    write_sequence(root, 2, [6, 7, 8])

    summary = prepare(root, tmp_path / "out.h5")

    assert skipped_paths(summary, "label_conflict") == {
        str(p) for p in (root).rglob("POINT_1_*.png")
    }
    assert set(details(summary, "label_conflict")) == {
        "point 1 in 2019 is labelled CORN and SOYBEAN"
    }
    assert list(PreparedFile(tmp_path / "out.h5").sequences.point) == [2]


def test_mixed_image_sizes_skip_the_odd_ones(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    larger = write_record(root, 1, 201909)
    for sensor in ("RGB", "NDVI"):
        Image.new("RGB", (130, 130)).save(larger[sensor])
    write_sequence(root, 2, [6, 7, 8])
    smaller = write_record(root, 2, 201909)["PSRI"]
    Image.new("RGB", (64, 64)).save(smaller)

    summary = prepare(root, tmp_path / "out.h5")

    assert skipped_paths(summary, "wrong_size") == {
        str(larger["RGB"]),
        str(larger["NDVI"]),
        str(smaller),
    }
    assert "64x64 pixels, expected 65x65" in details(summary, "wrong_size")
    assert summary["skipped_by_reason"]["bad_image_in_record"] == 4 + 5
    assert list(PreparedFile(tmp_path / "out.h5").sequences.length) == [3, 3]


def test_a_16_bit_rgb_patch_in_a_tree_is_skipped_as_wrong_mode(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    paths = write_record(root, 1, 201909)
    paths["RGB"].write_bytes(png_16_bit_rgb(patch_pixels(1, 201909, "RGB")))

    summary = prepare(root, tmp_path / "out.h5")

    assert skipped_paths(summary, "wrong_mode") == {str(paths["RGB"])}
    assert "16-bit PNG" in details(summary, "wrong_mode")[0]
    assert summary["skipped_by_reason"] == {"bad_image_in_record": 5, "wrong_mode": 1}
    assert PreparedFile(tmp_path / "out.h5").records.date.tolist() == [201906, 201907, 201908]
