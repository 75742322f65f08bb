"""A dataset tree made to hurt the reader: links to /dev/zero and out of the tree, a FIFO, link
loops, huge files, digits of other scripts. Preparation must finish, read only regular files
inside the tree (following links that stay inside), and skip everything else with a reason."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cropland.data.layout import SENSORS, PatchName, patch_path
from cropland.data.png_tree import MAX_PATCH_BYTES, PatchReadError, read_patch, scan_tree
from cropland.data.prepare.summary import prepare_summary_path
from cropland.data.prepared_file import PreparedFile
from tests.prepare_runs import skipped_paths
from tests.script_runs import PROJECT_ROOT
from tests.tiny_tree import expected_record, write_clean_tree, write_record, write_sequence

# Far above what preparing a tiny tree needs, far below reading /dev/zero whole.
MEMORY_LIMIT = 3 << 30
ARABIC_NINES = "\u0669" * 5  # ٩٩٩٩٩: int() reads it as 99999


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _rgb(root: Path, point: int, date: int) -> Path:
    return root / patch_path(PatchName(point, date, "QC", "CORN", "RGB"), "training")


def _renamed_record(root: Path, point: int, date: int, point_text: str) -> None:
    """A complete, valid record whose file names spell the point id as ``point_text``."""
    for path in write_record(root, point, date).values():
        path.rename(path.with_name(path.name.replace(f"POINT_{point}_", f"POINT_{point_text}_")))


def build_hostile_tree(root: Path, outside: Path) -> dict[str, Path]:
    """The clean tiny tree (points 1-3), its NDVI folder moved away and linked back, and one
    planted hazard each; returns the hazards by name."""
    write_clean_tree(root)
    (root / "store").mkdir()
    (root / "NDVI").rename(root / "store" / "NDVI")
    (root / "NDVI").symlink_to(Path("store", "NDVI"), target_is_directory=True)
    hazards = {"linked_sensor": root / "NDVI"}

    write_sequence(root, 4, [6, 7, 8, 9])
    hazards["dev_zero"] = _rgb(root, 4, 201906)
    hazards["dev_zero"].unlink()
    hazards["dev_zero"].symlink_to("/dev/zero")
    hazards["fifo"] = _rgb(root, 4, 201907)
    hazards["fifo"].unlink()
    os.mkfifo(hazards["fifo"])
    # A good patch outside the tree: not read all the same.
    outside.mkdir()
    hazards["outside"] = _rgb(root, 4, 201908)
    hazards["outside"].rename(outside / "patch.png")
    hazards["outside"].symlink_to(outside / "patch.png")
    hazards["broken"] = _rgb(root, 4, 201909)
    hazards["broken"].unlink()
    hazards["broken"].symlink_to(outside / "gone.png")

    corn = _rgb(root, 1, 201906).parent
    hazards["self_loop"] = corn / "POINT_9_201906_QC_CORN_RGB.png"
    hazards["self_loop"].symlink_to(hazards["self_loop"].name)
    hazards["folder_loop"] = corn / "up"
    hazards["folder_loop"].symlink_to(Path("..", ".."), target_is_directory=True)
    hazards["second_link"] = root / "zz_NDVI"
    hazards["second_link"].symlink_to(Path("store", "NDVI"), target_is_directory=True)

    write_sequence(root, 6, [6, 7, 8])
    hazards["huge"] = root / patch_path(PatchName(6, 201907, "QC", "CORN", "PSRI"), "training")
    with hazards["huge"].open("r+b") as patch:
        patch.truncate(MAX_PATCH_BYTES + 1)  # still a PNG at the start, then zeros

    for month in (6, 7, 8):
        _renamed_record(root, 7, 201900 + month, ARABIC_NINES)
        _renamed_record(root, 8, 201900 + month, "1" * 19)
    hazards["arabic"] = corn / f"POINT_{ARABIC_NINES}_201906_QC_CORN_RGB.png"
    hazards["long_id"] = corn / f"POINT_{'1' * 19}_201906_QC_CORN_RGB.png"
    return hazards


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict]:
    """scripts/prepare.py over the hostile tree, in a process with bounded memory and time."""
    tmp = tmp_path_factory.mktemp("hostile")
    root, dst = tmp / "tree", tmp / "out.h5"
    hazards = build_hostile_tree(root, tmp / "outside")
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "prepare.py"),
            f"src={root}",
            f"dst={dst}",
            "progress=false",
            f"paths.log_dir={tmp / 'logs'}",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(prepare_summary_path(dst).read_text())
    return dst, hazards, {"summary": summary, "printed": result.stdout}


@pytest.mark.parametrize(
    ("hazard", "reason", "detail"),
    [
        ("dev_zero", "symlink_outside_src", "a link to /dev/zero, outside src="),
        ("fifo", "special_file", "a FIFO (named pipe); only regular files are read"),
        ("outside", "symlink_outside_src", "only files inside src are read"),
        ("broken", "broken_symlink", "which does not exist"),
        ("self_loop", "symlink_loop", "it loops"),
        ("folder_loop", "symlink_loop", "a folder that holds the link"),
        ("second_link", "symlink_repeat", "already read through the link"),
        ("huge", "too_large", f"{MAX_PATCH_BYTES + 1} bytes, over the {MAX_PATCH_BYTES}"),
        ("arabic", "bad_name", "non-ASCII characters; ids and dates are ASCII digits 0-9"),
        ("long_id", "bad_name", "a point id has at most 18 digits"),
    ],
)
def test_each_hazard_is_skipped_with_its_reason(
    hostile_run: tuple[Path, dict[str, Path], dict], hazard: str, reason: str, detail: str
) -> None:
    _, hazards, run = hostile_run
    summary = run["summary"]
    assert str(hazards[hazard]) in skipped_paths(summary, reason)
    found = next(
        item["detail"] for item in summary["skipped"] if item["path"] == str(hazards[hazard])
    )
    assert detail in found
    assert reason in run["printed"]  # in the printed table too


def test_the_linked_sensor_folder_inside_the_tree_is_read(
    hostile_run: tuple[Path, dict[str, Path], dict],
) -> None:
    dst, _, run = hostile_run
    prepared = PreparedFile(dst)
    records = prepared.records
    # Points 1 and 2 of the clean tree need their NDVI, which is only there through the link.
    assert sorted(set(prepared.sequences.point.tolist())) == [1, 2]
    (first,) = np.flatnonzero((records.point == 1) & (records.date == 201906))
    pixels = prepared.read_records(int(first), int(first) + 1)[0]
    np.testing.assert_array_equal(pixels, expected_record(1, 201906))
    assert "missing_sensor" not in {
        item["reason"] for item in run["summary"]["skipped"] if "POINT_1_" in item["path"]
    }


def test_nothing_outside_the_tree_or_of_another_script_became_a_record(
    hostile_run: tuple[Path, dict[str, Path], dict],
) -> None:
    dst, _, run = hostile_run
    points = set(PreparedFile(dst).records.point.tolist())
    assert points.isdisjoint({4, 6, 99999, int("1" * 19) % 2**63})
    # The huge file's record is dropped whole, its other sensors with the reason.
    assert run["summary"]["skipped_by_reason"]["bad_image_in_record"] == len(SENSORS) - 1


def test_scan_lists_the_tree_read_through_the_link_under_the_link_name(tmp_path: Path) -> None:
    root = write_clean_tree(tmp_path / "tree")
    shutil.move(root / "RGB", tmp_path / "tree" / "rgb_store")
    (root / "RGB").symlink_to("rgb_store", target_is_directory=True)

    scan = scan_tree(root)

    rgb = [p for p in scan.patches if p.name.sensor == "RGB"]
    assert len(rgb) == 10
    assert all(p.path.parts[len(root.parts)] == "RGB" for p in rgb)
    assert all(p.read_path.is_relative_to(root / "rgb_store") for p in rgb)
    assert {s.reason for s in scan.skipped} == {"misplaced"}  # rgb_store/ itself


def test_read_patch_refuses_devices_and_huge_files_without_reading_them(tmp_path: Path) -> None:
    with pytest.raises(PatchReadError) as error:
        read_patch("/dev/zero", "RGB")
    assert error.value.reason == "special_file"
    assert "a character device" in error.value.detail

    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\0" * (MAX_PATCH_BYTES + 1))
    with pytest.raises(PatchReadError) as error:
        read_patch(huge, "RGB")
    assert error.value.reason == "too_large"
