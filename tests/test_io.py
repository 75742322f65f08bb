"""Atomic writes: whole files (or folders) or none, and temp files that never outlive their
process."""

from __future__ import annotations

import os
import subprocess

import pytest

from cropland.io import TEMP_MARK, atomic_output, remove_stale_temp_files, write_text_atomic


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_the_temp_file_keeps_the_extension_and_names_its_process(tmp_path):
    with atomic_output(tmp_path / "figure.png") as tmp:
        assert tmp.suffix == ".png" and tmp.name.startswith(".figure")
        assert f"{TEMP_MARK}{os.getpid()}" in tmp.name
        tmp.write_bytes(b"png")
    assert (tmp_path / "figure.png").read_bytes() == b"png"


def test_stale_temp_files_go_live_ones_and_folders_stay(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".report{TEMP_MARK}{dead}.txt"
    live = tmp_path / f".report{TEMP_MARK}{alive}.txt"
    folder = tmp_path / f".tree{TEMP_MARK}{dead}"
    stale.write_text("left by a killed run")
    live.write_text("another run, still writing")
    folder.mkdir()
    (folder / "keep.txt").write_text("a writer of files never deletes a folder")
    write_text_atomic(tmp_path / "report.txt", "done\n")
    assert not stale.exists()
    assert live.exists() and (folder / "keep.txt").exists()


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "tree"
    (target / "old").mkdir(parents=True)
    (target / "old" / "a.txt").write_text("old")
    with (
        pytest.raises(KeyboardInterrupt),
        atomic_output(target, folder=True, overwrite=True) as tmp,
    ):
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "half.txt").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in target.rglob("*")] == ["old", "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]

    with atomic_output(target, folder=True, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        assert [p.name for p in target.iterdir()] == ["old"]  # readers see the old tree meanwhile
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_a_folder_writer_removes_stale_temp_folders(tmp_path):
    stale = tmp_path / f".tree{TEMP_MARK}{_dead_pid()}"
    (stale / "RGB").mkdir(parents=True)
    with atomic_output(tmp_path / "tree", folder=True) as tmp:
        (tmp / "done.txt").write_text("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_a_temp_name_with_a_huge_or_non_ascii_process_id_is_not_taken_for_ours(tmp_path):
    huge = tmp_path / f".out{TEMP_MARK}99999999999999999999.csv"
    arabic = tmp_path / f".out{TEMP_MARK}\u0669\u0669.csv"
    beyond = tmp_path / f".out{TEMP_MARK}9999999999.csv"
    for path in (huge, arabic, beyond):
        path.write_text("x")
    removed = remove_stale_temp_files(tmp_path)
    assert removed == [beyond]
    assert huge.exists() and arabic.exists()
