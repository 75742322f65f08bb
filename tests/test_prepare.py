"""Preparing a PNG tree into the prepared HDF5 file: counts, skips, pixels, atomicity, script."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cropland.data.prepare as prepare_module
from cropland.data.layout import CHANNELS, CLASSES, IMAGE_SIZE, SENSORS, PatchName, patch_path
from cropland.data.png_tree import PatchReadError, read_patch, scan_tree
from cropland.data.prepare import prepare_dataset, summary_path
from cropland.data.prepared_file import PreparedFile
from cropland.errors import CroplandError
from cropland.io import owner_of_temp
from tests.conftest import run_script

# --- a tiny PNG tree, written the way the real dataset is laid out ---------------------------


def patch_pixels(point: int, date: int, sensor: str) -> np.ndarray:
    """Distinct, reproducible (65, 65, 3) pixels; an index repeats one value in all three."""
    rng = np.random.default_rng([point, date, SENSORS.index(sensor)])
    if sensor == "RGB":
        return rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    value = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    return np.repeat(value[:, :, None], 3, axis=2)


def expected_record(point: int, date: int) -> np.ndarray:
    """The (8, 65, 65) pixels a record should have in the prepared file."""
    channels = []
    for sensor in SENSORS:
        pixels = patch_pixels(point, date, sensor).transpose(2, 0, 1)
        channels.append(pixels if sensor == "RGB" else pixels[:1])
    return np.concatenate(channels)


def write_record(
    root: Path,
    point: int,
    date: int,
    crop: str = "CORN",
    split: str = "training",
    province: str = "QC",
    sensors: tuple[str, ...] = SENSORS,
) -> dict[str, Path]:
    paths = {}
    for sensor in sensors:
        path = root / patch_path(PatchName(point, date, province, crop, sensor), split)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(patch_pixels(point, date, sensor), "RGB").save(path)
        paths[sensor] = path
    return paths


def write_sequence(root: Path, point: int, months: list[int], **kwargs) -> None:
    for month in months:
        write_record(root, point, 201900 + month, **kwargs)


def prepare(src: Path, dst: Path, **kwargs) -> dict:
    return prepare_dataset(src, dst, progress=False, **kwargs)


# --- a clean tree ------------------------------------------------------------------------------


@pytest.fixture
def clean_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    write_sequence(root, 1, [9, 6, 8, 7, 10], crop="CORN")  # written out of date order
    write_sequence(root, 2, [8, 6, 7], crop="SPRING_WHEAT", split="validation", province="SK")
    write_sequence(root, 3, [7, 9], crop="OAT", split="test")  # too short
    return root


def test_clean_tree_counts(clean_tree: Path, tmp_path: Path) -> None:
    summary = prepare(clean_tree, tmp_path / "out.h5")

    assert summary["records"] == 8
    assert summary["sequences"] == 2
    assert summary["sequences_too_short"] == 1
    assert summary["records_in_short_sequences"] == 2
    assert summary["skipped"] == []
    assert summary["sequences_per_class"]["CORN"] == {"training": 1, "validation": 0, "test": 0}
    assert summary["sequences_per_class"]["SPRING_WHEAT"]["validation"] == 1
    assert summary["records_per_split_folder"] == {"training": 5, "validation": 3, "test": 0}


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


def test_file_attributes(clean_tree: Path, tmp_path: Path) -> None:
    prepare(clean_tree, tmp_path / "out.h5")
    attrs = PreparedFile(tmp_path / "out.h5").attrs

    assert attrs["classes"] == list(CLASSES)
    assert attrs["channels"] == list(CHANNELS)
    assert attrs["sensors"] == list(SENSORS)
    assert attrs["image_size"] == IMAGE_SIZE
    assert attrs["min_length"] == 3
    assert attrs["source"] == str(clean_tree)


def test_pixels_round_trip_exactly(clean_tree: Path, tmp_path: Path) -> None:
    prepare(clean_tree, tmp_path / "out.h5")
    prepared = PreparedFile(tmp_path / "out.h5")
    pixels = prepared.read_pixels()

    assert pixels.dtype == np.uint8
    assert pixels.shape == (8, len(CHANNELS), IMAGE_SIZE, IMAGE_SIZE)
    for i, (point, date) in enumerate(
        zip(prepared.records.point, prepared.records.date, strict=True)
    ):
        np.testing.assert_array_equal(pixels[i], expected_record(int(point), int(date)))


def test_min_length_keeps_shorter_sequences(clean_tree: Path, tmp_path: Path) -> None:
    summary = prepare(clean_tree, tmp_path / "out.h5", min_length=2)
    assert (summary["records"], summary["sequences"], summary["sequences_too_short"]) == (10, 3, 0)


def test_summary_json_beside_output(clean_tree: Path, tmp_path: Path) -> None:
    summary = prepare(clean_tree, tmp_path / "out.h5")

    path = tmp_path / "out.summary.json"
    assert summary_path(tmp_path / "out.h5") == path
    assert json.loads(path.read_text()) == summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "out.summary.json", "tree"]


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

    assert list(PreparedFile(tmp_path / "out.h5").sequences.label) == [-1]
    assert summary["unknown_class_sequences"] == {
        "FALLOW": {"training": 1, "validation": 0, "test": 0}
    }


def test_nothing_usable_is_an_error_with_a_summary(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7])

    with pytest.raises(CroplandError, match="no sequence of at least min_length=3"):
        prepare(root, tmp_path / "out.h5")

    assert not (tmp_path / "out.h5").exists()
    assert json.loads((tmp_path / "out.summary.json").read_text())["sequences_too_short"] == 1


# --- bad input and atomic output ---------------------------------------------------------------


def test_bad_src_is_a_clear_error(tmp_path: Path) -> None:
    dst = tmp_path / "out.h5"
    with pytest.raises(CroplandError, match=r"missing.*does not exist"):
        prepare(tmp_path / "missing", dst)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CroplandError, match="is not a folder"):
        prepare(tmp_path / "file", dst)
    (tmp_path / "empty" / "RGB").mkdir(parents=True)
    (tmp_path / "empty" / "RGB" / "Thumbs.db").write_text("x")
    with pytest.raises(CroplandError, match=r"no patch images under src=.*empty"):
        prepare(tmp_path / "empty", dst)


def test_bad_min_length_is_a_clear_error(clean_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(CroplandError, match="min_length=0"):
        prepare(clean_tree, tmp_path / "out.h5", min_length=0)


def test_src_one_level_too_high_says_so(clean_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(CroplandError, match="src must be the folder that holds RGB"):
        prepare(clean_tree.parent, tmp_path / "out.h5")


def test_existing_dst_is_refused_and_untouched(clean_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.h5"
    dst.write_bytes(b"precious")

    with pytest.raises(CroplandError, match=r"out\.h5 already exists; set overwrite=true"):
        prepare(clean_tree, dst)
    assert dst.read_bytes() == b"precious"

    prepare(clean_tree, dst, overwrite=True)
    assert len(PreparedFile(dst).records) == 8


def test_failure_mid_write_leaves_no_dst(
    clean_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    files_checked = 10 * len(SENSORS)  # the first pass decodes every complete record once
    calls = 0
    files_at_crash = []

    def read_then_fail(source, sensor, **kwargs):
        nonlocal calls
        calls += 1
        if calls > files_checked + 3 * len(SENSORS):  # a few records into writing
            files_at_crash.extend(out.iterdir())
            raise RuntimeError("simulated crash")
        return read_patch(source, sensor, **kwargs)

    monkeypatch.setattr(prepare_module, "read_patch", read_then_fail)
    monkeypatch.setattr(prepare_module, "BATCH_RECORDS", 2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare(clean_tree, out / "prepared.h5")

    # It was writing into its recognisable temp file, not yet renamed.
    assert [owner_of_temp(p) for p in files_at_crash] == [os.getpid()]
    assert [p.suffix for p in files_at_crash] == [".h5"]
    assert list(out.iterdir()) == []


# --- messy real trees: each oddity is reported with the files involved ------------------------


def skipped_paths(summary: dict, reason: str) -> set[str]:
    return {item["path"] for item in summary["skipped"] if item["reason"] == reason}


def details(summary: dict, reason: str) -> list[str]:
    return [item["detail"] for item in summary["skipped"] if item["reason"] == reason]


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


def test_extension_rules(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    first = write_record(root, 1, 201906)
    write_sequence(root, 1, [7, 8])
    upper = first["RGB"].rename(first["RGB"].with_suffix(".PNG"))
    title = first["NDVI"].rename(first["NDVI"].with_suffix(".Png"))
    backup = first["GNDVI"].with_name(first["GNDVI"].name + ".bak")
    backup.write_bytes(first["GNDVI"].read_bytes())  # beside the .png it copies
    jpeg = write_record(root, 1, 201909)["OSAVI"]
    jpeg = jpeg.rename(jpeg.with_suffix(".jpg"))
    thumbs = root / "RGB" / "training" / "CORN" / "Thumbs.db"
    thumbs.write_bytes(b"\0")
    notes = root / "notes.txt"
    notes.write_text("downloaded in 2023")

    summary = prepare(root, tmp_path / "out.h5")

    # .PNG and .Png are PNGs: read, and listed so that the user knows.
    assert {n["path"]: n["reason"] for n in summary["notices"]} == {
        str(upper): "extension_case",
        str(title): "extension_case",
    }
    assert list(PreparedFile(tmp_path / "out.h5").records.date) == [201906, 201907, 201908]
    # Other extensions of a patch name are skipped, with the name to rename them to.
    assert skipped_paths(summary, "odd_extension") == {str(backup), str(jpeg)}
    odd = {item["path"]: item["detail"] for item in summary["skipped"]}
    assert f"rename it to {jpeg.stem}.png" in odd[str(jpeg)]
    assert f"rename it to {first['GNDVI'].name}" in odd[str(backup)]
    assert skipped_paths(summary, "stray_file") == {str(thumbs), str(notes)}
    assert summary["skipped_by_reason"]["missing_sensor"] == 5  # 201909 lost its OSAVI


@pytest.mark.parametrize(
    ("folders", "kind", "found", "expected"),
    [
        (("rgb", "training", "CORN"), "sensor", "rgb", "RGB"),
        (("RGB", "Training", "CORN"), "split", "Training", "training"),
        (("RGB", "training", "corn"), "class", "corn", "CORN"),
    ],
)
def test_folder_names_that_differ_only_in_case_are_misplaced(
    tmp_path: Path, folders: tuple[str, str, str], kind: str, found: str, expected: str
) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    rgb = write_record(root, 1, 201909)["RGB"]
    moved = root.joinpath(*folders, rgb.name)
    moved.parent.mkdir(parents=True, exist_ok=True)
    rgb.rename(moved)

    summary = prepare(root, tmp_path / "out.h5")

    assert skipped_paths(summary, "misplaced") == {str(moved)}
    assert details(summary, "misplaced") == [
        f"{kind} folder {found!r} differs from {expected!r} only in case; folder names are "
        f"matched exactly, so rename the folder to {expected} (nothing else needs to change)"
    ]
    assert summary["skipped_by_reason"]["missing_sensor"] == 5


def test_a_tree_with_lowercase_sensor_folders_says_to_rename_them(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    for sensor in SENSORS:
        (root / sensor).rename(root / sensor.lower())

    with pytest.raises(CroplandError) as error:
        prepare(root, tmp_path / "out.h5")
    assert "differs from 'GNDVI' only in case" in str(error.value)  # the first, alphabetically
    assert "rename the folder to GNDVI" in str(error.value)
    assert "src must be the folder" not in str(error.value)  # src is right


def test_unknown_province_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    write_sequence(root, 2, [6, 7, 8], province="XX")

    summary = prepare(root, tmp_path / "out.h5")

    assert skipped_paths(summary, "unknown_province") == {
        str(p) for p in root.rglob("POINT_2_*.png")
    }
    assert "province XX is not one of AB, BC" in details(summary, "unknown_province")[0]


def test_printed_summary_shows_counts_and_example_files_per_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # no wrapping, so that each row is one line
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7, 8])
    write_record(root, 1, 201908, split="test")
    png = write_record(root, 2, 201906)["RGB"]
    upper = png.rename(png.with_suffix(".PNG"))

    summary = prepare(root, tmp_path / "out.h5", min_length=2)

    lines = capsys.readouterr().out.splitlines()
    duplicates = sorted(skipped_paths(summary, "duplicate_record"))
    row = next(line for line in lines if "duplicate_record" in line)
    assert " 12 " in row
    assert str(Path(duplicates[0]).relative_to(root)) in row  # the first of three examples
    assert sum(str(Path(p).relative_to(root)) in "\n".join(lines) for p in duplicates) == 3
    notice = next(line for line in lines if "extension_case" in line)
    assert str(upper.relative_to(root)) in notice
    assert any(str(summary_path(tmp_path / "out.h5")) in line for line in lines)


# --- reading one patch -------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def test_read_patch_shapes_and_values(tmp_path: Path) -> None:
    paths = write_record(tmp_path, 1, 201907)
    rgb = read_patch(paths["RGB"], "RGB")
    ndvi = read_patch(paths["NDVI"], "NDVI")

    assert rgb.shape == (3, IMAGE_SIZE, IMAGE_SIZE) and rgb.dtype == np.uint8
    assert ndvi.shape == (1, IMAGE_SIZE, IMAGE_SIZE)
    np.testing.assert_array_equal(rgb, patch_pixels(1, 201907, "RGB").transpose(2, 0, 1))
    np.testing.assert_array_equal(ndvi[0], patch_pixels(1, 201907, "NDVI")[:, :, 0])


def test_read_patch_accepts_grey_index_and_palette_rgb() -> None:
    grey = np.arange(IMAGE_SIZE * IMAGE_SIZE, dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)
    np.testing.assert_array_equal(read_patch(png_bytes(Image.fromarray(grey)), "NDVI")[0], grey)

    palette = Image.fromarray(grey).convert("RGB").quantize(colors=16)
    expected = np.asarray(palette.convert("RGB")).transpose(2, 0, 1)
    np.testing.assert_array_equal(read_patch(png_bytes(palette), "RGB"), expected)


def encoded(image: Image.Image) -> bytes:
    return png_bytes(image).getvalue()


def png_16_bit_rgb(pixels: np.ndarray, alpha: bool = False) -> bytes:
    """A 16-bit RGB(A) PNG whose high bytes are the 8-bit ``pixels`` (65, 65, 3), with low
    bytes that matter. Pillow cannot write 16-bit colour PNGs, so the chunks are written by
    hand; Pillow reads them as 8-bit RGB(A), keeping the high bytes."""
    low = np.arange(pixels.size).reshape(pixels.shape) % 251
    values = pixels.astype(">u2") * 256 + low
    if alpha:
        values = np.concatenate([values, np.full((*values.shape[:2], 1), 65535, ">u2")], axis=2)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    height, width = pixels.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, 16, 6 if alpha else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_pillow_reads_16_bit_rgb_as_8_bit_which_is_why_it_is_refused() -> None:
    pixels = patch_pixels(1, 201907, "RGB")
    with Image.open(io.BytesIO(png_16_bit_rgb(pixels))) as image:
        assert image.mode == "RGB"  # nothing in the mode says 16 bits
        np.testing.assert_array_equal(np.asarray(image), pixels)  # the low bytes are dropped


def test_palette_pngs_of_fewer_bits_are_read() -> None:
    grey = (np.arange(IMAGE_SIZE * IMAGE_SIZE) % 4 * 60).astype(np.uint8)
    palette = Image.fromarray(grey.reshape(IMAGE_SIZE, IMAGE_SIZE)).convert("RGB").quantize(4)
    png = io.BytesIO()
    palette.save(png, "PNG", bits=2)
    assert png.getvalue()[24] == 2  # the IHDR bit depth
    expected = np.asarray(palette.convert("RGB")).transpose(2, 0, 1)
    np.testing.assert_array_equal(read_patch(io.BytesIO(png.getvalue()), "RGB"), expected)


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


@pytest.mark.parametrize(
    ("content", "sensor", "reason"),
    [
        (b"", "RGB", "unreadable"),
        (b"not a png at all", "NDVI", "unreadable"),
        (encoded(Image.fromarray(patch_pixels(1, 201907, "RGB")))[:500], "RGB", "unreadable"),
        (encoded(Image.new("RGB", (65, 64))), "RGB", "wrong_size"),
        (encoded(Image.new("L", (65, 65))), "RGB", "wrong_mode"),
        (encoded(Image.new("I;16", (65, 65))), "NDVI", "wrong_mode"),
        (png_16_bit_rgb(patch_pixels(1, 201907, "RGB")), "RGB", "wrong_mode"),
        (png_16_bit_rgb(patch_pixels(1, 201907, "NDVI")), "NDVI", "wrong_mode"),
        (png_16_bit_rgb(patch_pixels(1, 201907, "RGB"), alpha=True), "RGB", "wrong_mode"),
        (encoded(Image.new("1", (65, 65))), "NDVI", "wrong_mode"),
    ],
    ids=[
        "empty",
        "not_png",
        "truncated",
        "wrong_size",
        "grey_rgb",
        "16_bit_index",
        "16_bit_rgb",
        "16_bit_rgb_index",
        "16_bit_rgba",
        "bilevel",
    ],
)
def test_read_patch_errors_have_reasons(
    tmp_path: Path, content: bytes, sensor: str, reason: str
) -> None:
    path = tmp_path / "patch.png"
    path.write_bytes(content)
    with pytest.raises(PatchReadError) as error:
        read_patch(path, sensor)
    assert error.value.reason == reason
    assert str(path) in str(error.value)


def test_scan_tree_reports_stray_files(clean_tree: Path) -> None:
    (clean_tree / "RGB" / "Thumbs.db").write_text("x")
    scan = scan_tree(clean_tree)
    assert len(scan.patches) == 10 * len(SENSORS)
    assert [(s.path.name, s.reason) for s in scan.skipped] == [("Thumbs.db", "stray_file")]


# --- the script, run the way users run it ------------------------------------------------------


def run_prepare(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_script("prepare.py", *overrides, f"paths.log_dir={tmp_path / 'logs'}")


def test_script_prepares_a_tree(clean_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.h5"
    result = run_prepare(tmp_path, f"src={clean_tree}", f"dst={dst}")

    assert result.returncode == 0, result.stderr
    assert len(PreparedFile(dst).sequences) == 2
    assert summary_path(dst).is_file()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["src={tmp}/missing", "dst={tmp}/out.h5"], "missing does not exist"),
        (["dst={tmp}/out.h5"], "missing src"),
    ],
)
def test_script_bad_input_is_one_line_exit_2(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    result = run_prepare(tmp_path, *(o.format(tmp=tmp_path) for o in overrides))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_tree_without_split_or_class_folders_is_unlabelled(tmp_path: Path) -> None:
    """New data to predict on: <SENSOR>/<patch>, with or without a crop in the name."""
    root = tmp_path / "new"
    for sensor in SENSORS:
        for point, crop in ((5, "CORN"), (6, None)):
            name = PatchName(point, 201908, "QC", crop or "X", sensor).filename
            if crop is None:
                name = name.replace("_X_", "_")
            (root / sensor).mkdir(parents=True, exist_ok=True)
            Image.fromarray(patch_pixels(point, 201908, sensor), "RGB").save(root / sensor / name)
    prepare(root, tmp_path / "new.h5", min_length=1)
    sequences = PreparedFile(tmp_path / "new.h5").sequences
    assert sequences.point.tolist() == [5, 6]
    assert sequences.label.tolist() == [CLASSES.index("CORN"), -1]
    assert set(sequences.split_folder.tolist()) == {"unassigned"}


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
