"""Preparation as a whole: its options, its destination, and the script as users run it."""

from __future__ import annotations

from pathlib import Path

import pytest

import cropland.data.prepare.pipeline as pipeline
from cropland.data.prepare import prepare_summary_path
from cropland.data.prepared_file import PreparedFile
from cropland.errors import CroplandError
from tests.prepare_runs import prepare, run_prepare


def test_bad_min_length_is_a_clear_error(clean_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(CroplandError, match="min_length=0"):
        prepare(clean_tree, tmp_path / "out.h5", min_length=0)


def test_existing_dst_is_refused_and_untouched(clean_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.h5"
    dst.write_bytes(b"precious")

    with pytest.raises(CroplandError, match=r"out\.h5 already exists; set overwrite=true"):
        prepare(clean_tree, dst)
    assert dst.read_bytes() == b"precious"

    prepare(clean_tree, dst, overwrite=True)
    assert len(PreparedFile(dst).records) == 8


def test_dst_created_while_images_are_checked_is_refused_and_untouched(
    clean_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "out.h5"

    def select_while_another_prepare_writes_dst(*args, **kwargs):
        dst.write_bytes(b"another prepare's file")
        return select(*args, **kwargs)

    select = pipeline.select_sequences
    monkeypatch.setattr(pipeline, "select_sequences", select_while_another_prepare_writes_dst)
    with pytest.raises(CroplandError, match=r"out\.h5 already exists; set overwrite=true"):
        prepare(clean_tree, dst)
    assert dst.read_bytes() == b"another prepare's file"


def test_dst_is_a_folder(clean_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(CroplandError, match="is a folder; give the file to write"):
        prepare(clean_tree, tmp_path, overwrite=True)


def test_script_prepares_a_tree(clean_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.h5"
    result = run_prepare(tmp_path, f"src={clean_tree}", f"dst={dst}")

    assert result.returncode == 0, result.stderr
    assert len(PreparedFile(dst).sequences) == 2
    assert prepare_summary_path(dst).is_file()


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
