"""Preparation's sources: what ``src`` may be, reading a PNG tree (its odd files and folders),
and decoding one patch."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropland.data.layout import CLASSES, IMAGE_SIZE, SENSORS, UNKNOWN_CLASS, PatchName
from cropland.data.png_tree import PatchReadError, read_patch, scan_tree
from cropland.data.prepared_file import PreparedFile
from cropland.errors import CroplandError
from tests.prepare_runs import details, prepare, skipped_paths
from tests.sixteen_bit_png import png_16_bit_rgb
from tests.tiny_tree import patch_pixels, write_record, write_sequence

# --- what src may be ---------------------------------------------------------------------------


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


def test_src_one_level_too_high_says_so(clean_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(CroplandError, match="src must be the folder that holds RGB"):
        prepare(clean_tree.parent, tmp_path / "out.h5")


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
    assert sequences.label.tolist() == [CLASSES.index("CORN"), UNKNOWN_CLASS]
    assert set(sequences.split_folder.tolist()) == {"unassigned"}


# --- messy real trees: each oddity is reported with the files involved ------------------------


def test_scan_tree_reports_stray_files(clean_tree: Path) -> None:
    (clean_tree / "RGB" / "Thumbs.db").write_text("x")
    scan = scan_tree(clean_tree)
    assert len(scan.patches) == 10 * len(SENSORS)
    assert [(Path(s.source).name, s.reason) for s in scan.skipped] == [("Thumbs.db", "stray_file")]


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


# --- reading one patch -------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def encoded(image: Image.Image) -> bytes:
    return png_bytes(image).getvalue()


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
