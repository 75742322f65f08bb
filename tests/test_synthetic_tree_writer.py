"""Writing the synthetic tree: the same bytes for the same arguments, a destination replaced
only when allowed, and never a half-written tree where readers look."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import cropland.data.synthetic.tree_writer as tree_writer
from cropland.data.synthetic import generate_tree, tree_summary_path
from cropland.errors import CroplandError
from cropland.io import owner_of_temp
from tests.script_runs import run_script


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path, monkeypatch) -> None:
    generate_tree(tmp_path / "a", num_points=12, seed=5, progress=False, workers=1)
    monkeypatch.setattr(tree_writer, "POINTS_PER_CHUNK", 4)  # three chunks over two threads
    generate_tree(tmp_path / "b", num_points=12, seed=5, progress=False, workers=2)
    generate_tree(tmp_path / "c", num_points=12, seed=6, progress=False, workers=1)
    a, b, c = (tree_bytes(tmp_path / name) for name in "abc")
    assert a == b
    assert a != c
    summaries = [tree_summary_path(tmp_path / name).read_text() for name in "ab"]
    assert summaries[0] == summaries[1]


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(CroplandError, match="not empty"):
        generate_tree(root, num_points=2, progress=False)
    with pytest.raises(CroplandError, match="not a synthetic tree"):
        generate_tree(root, num_points=2, progress=False, overwrite=True)
    assert [p.name for p in root.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_overwrite_replaces_an_earlier_synthetic_tree(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    generate_tree(root, num_points=3, seed=1, progress=False)
    with pytest.raises(CroplandError, match="overwrite=true"):
        generate_tree(root, num_points=3, seed=2, progress=False)
    generate_tree(root, num_points=3, seed=2, progress=False, overwrite=True)
    assert json.loads(tree_summary_path(root).read_text())["seed"] == 2
    generate_tree(tmp_path / "fresh", num_points=3, seed=2, progress=False)
    assert tree_bytes(root) == tree_bytes(tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fresh",
        "fresh.synthetic.json",
        "tree",
        "tree.synthetic.json",
    ]


def test_interrupted_run_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    encode = tree_writer.encode
    calls = []

    def encode_then_interrupt(bands):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return encode(bands)

    monkeypatch.setattr(tree_writer, "encode", encode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        generate_tree(tmp_path / "tree", num_points=4, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_files_are_written_into_a_recognisable_temp_folder(tmp_path: Path, monkeypatch) -> None:
    encode = tree_writer.encode
    seen = []

    def look_beside_the_tree_then_encode(bands):
        seen.append({p.name: len(list(p.rglob("*.png"))) for p in tmp_path.iterdir() if p.is_dir()})
        return encode(bands)

    monkeypatch.setattr(tree_writer, "encode", look_beside_the_tree_then_encode)
    generate_tree(tmp_path / "tree", num_points=2, progress=False, workers=1)
    temp = f".tree.cropland-tmp-{os.getpid()}"
    # While it is written, the tree is only in the temp folder, and fills up there.
    assert len(seen) > 1 and all(list(folders) == [temp] for folders in seen)
    assert seen[-1][temp] > 0
    assert owner_of_temp(tmp_path / temp) == os.getpid()


def test_a_killed_run_leaves_a_temp_folder_the_next_one_removes(tmp_path: Path, caplog) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    # What a run killed with SIGKILL leaves: its half-written tree, and the tree it replaced.
    left = [
        tmp_path / f".tree.cropland-tmp-{ended.pid}",
        tmp_path / f".tree.cropland-tmp-{ended.pid}.old",
    ]
    for folder in left:
        (folder / "RGB").mkdir(parents=True)
        (folder / "RGB" / "patch.png").write_bytes(b"half")

    generate_tree(tmp_path / "tree", num_points=2, progress=False)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree", "tree.synthetic.json"]
    removed = [r.getMessage() for r in caplog.records if r.name == "cropland.io"]
    assert len(removed) == 2
    assert all(any(f"Removing {folder}," in message for message in removed) for folder in left)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({"num_points": 0}, "num_points"),
        ({"year": 19}, "year"),
        ({"seed": -1}, "seed"),
        ({"cloud_gaps": 1.0}, "cloud_gaps"),
        ({"cloud_gaps": -0.1}, "cloud_gaps"),
        ({"separability": 0.0}, "separability"),
        ({"separability": 1.5}, "separability"),
        ({"separability": float("nan")}, "separability"),
        ({"noise": -1.0}, "noise"),
        ({"noise": float("inf")}, "noise"),
        ({"phenology_shift": -0.5}, "phenology_shift"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, argument: dict, message: str) -> None:
    with pytest.raises(CroplandError, match=message):
        generate_tree(tmp_path / "tree", progress=False, **argument)
    assert list(tmp_path.iterdir()) == []


def test_script_writes_a_tree_and_reports_user_errors_in_one_line(tmp_path: Path) -> None:
    dst = tmp_path / "tree"
    args = (f"dst={dst}", "num_points=20", "progress=false", f"paths.log_dir={tmp_path / 'logs'}")
    result = run_script("make_synthetic.py", *args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["num_points"] == 20
    assert len(list(dst.rglob("*.png"))) == summary["images_written"]

    again = run_script("make_synthetic.py", *args)
    assert again.returncode == 2
    assert again.stderr.strip().startswith("error: dst") and "overwrite=true" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
