"""Preparation's summary: the counts, the JSON beside the file, and what is printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cropland.data.layout import SPLIT_FOLDERS
from cropland.data.prepare import prepare_summary_path
from cropland.data.splits import DEFAULT_SPLIT
from cropland.data.synthetic import generate_tree
from cropland.errors import CroplandError
from tests.hydra_configs import compose_config
from tests.prepare_runs import prepare, skipped_paths
from tests.tiny_tree import write_record, write_sequence


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


def test_summary_json_beside_output(clean_tree: Path, tmp_path: Path) -> None:
    summary = prepare(clean_tree, tmp_path / "out.h5")

    path = tmp_path / "out.summary.json"
    assert prepare_summary_path(tmp_path / "out.h5") == path
    assert json.loads(path.read_text()) == summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "out.summary.json", "tree"]


def test_nothing_usable_is_an_error_with_a_summary(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_sequence(root, 1, [6, 7])

    with pytest.raises(CroplandError, match="no sequence of at least min_length=3"):
        prepare(root, tmp_path / "out.h5")

    assert not (tmp_path / "out.h5").exists()
    assert json.loads((tmp_path / "out.summary.json").read_text())["sequences_too_short"] == 1


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
    assert any(str(prepare_summary_path(tmp_path / "out.h5")) in line for line in lines)


def _line_after_the_table(lines: list[str]) -> str:
    bottom = max(number for number, line in enumerate(lines) if line.lstrip().startswith("└"))
    return lines[bottom + 1]


def test_a_line_after_the_table_says_the_split_folders_are_the_trees(
    clean_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    prepare(clean_tree, tmp_path / "out.h5")

    note = _line_after_the_table(capsys.readouterr().out.splitlines())
    default = compose_config("train").data.split
    assert default == DEFAULT_SPLIT
    assert note.startswith("the split folders are the source's own")
    assert f"default split is data.split={default} " in note
    assert note.endswith("data.split=predefined uses these folders")


def test_the_note_says_predefined_cannot_split_a_tree_without_split_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    generate_tree(tmp_path / "new", num_points=6, seed=3, progress=False, labelled=False)
    prepare(tmp_path / "new", tmp_path / "out.h5", min_length=1)

    note = _line_after_the_table(capsys.readouterr().out.splitlines())
    assert f"default split is data.split={DEFAULT_SPLIT} " in note
    assert note.endswith(
        f"needs every sequence in {'/'.join(SPLIT_FOLDERS)} folders, so not this file"
    )
