"""scripts/make_synthetic.py labelled=false: new data in the layout predict reads."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cropland.data.layout import (
    UNASSIGNED,
    UNLABELLED,
    PatchName,
    parse_patch_name,
    unlabelled_patch_path,
)
from cropland.data.synthetic import generate_tree, tree_summary_path
from tests.predict_runs import run_predict
from tests.script_runs import call_script

NUM_POINTS, SEED = 12, 3


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory) -> tuple[Path, dict]:
    """An unlabelled tree made by the script as a user runs it, and the summary it prints."""
    folder = tmp_path_factory.mktemp("unlabelled")
    result = call_script(
        "make_synthetic.py",
        f"dst={folder / 'new'}",
        f"num_points={NUM_POINTS}",
        f"seed={SEED}",
        "labelled=false",
        "progress=false",
        f"hydra.run.dir={folder / 'hydra'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "new", json.loads(result.stdout)


def test_unlabelled_patch_path_reads_back_without_a_crop():
    name = PatchName(7, 201907, "QC", "SPRING_WHEAT", "NDVI45")
    path = unlabelled_patch_path(name)
    sensor, filename = path.split("/")
    assert sensor == name.sensor and "SPRING_WHEAT" not in filename
    assert parse_patch_name(filename) == PatchName(7, 201907, "QC", UNLABELLED, "NDVI45")


def test_the_tree_has_no_split_or_class_folders_and_no_crops(unlabelled):
    root, summary = unlabelled
    files = sorted(path for path in root.rglob("*") if path.is_file())
    assert len(files) == summary["images_written"]
    for path in files:
        parts = path.relative_to(root).parts
        assert len(parts) == 2, parts
        name = parse_patch_name(parts[1])
        assert name is not None and name.crop == UNLABELLED and name.sensor == parts[0]
    assert summary["labelled"] is False
    assert summary["points_per_split_folder"] == {UNASSIGNED: NUM_POINTS}
    assert json.loads(tree_summary_path(root).read_text()) == summary


def test_it_holds_the_labelled_trees_images(unlabelled, tmp_path):
    root, _ = unlabelled
    labelled = tmp_path / "labelled"
    generate_tree(labelled, num_points=NUM_POINTS, seed=SEED, progress=False)
    patches = sorted(labelled.rglob("*.png"))
    assert len(patches) == sum(1 for _ in root.rglob("*.png"))
    for path in patches:
        bare = root / unlabelled_patch_path(parse_patch_name(path.name))
        assert bare.read_bytes() == path.read_bytes(), path


def test_predict_writes_one_row_per_sequence_and_no_true_column(unlabelled, trained_run, tmp_path):
    root, summary = unlabelled
    output = tmp_path / "pred.csv"
    result = run_predict(trained_run.best_checkpoint, root, output)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(output) as f:
        rows = list(csv.DictReader(f))
    assert "true" not in rows[0]
    points = {parse_patch_name(path.name).point for path in root.glob("RGB/*.png")}
    assert len(rows) == summary["num_points"] == len(points)
    assert {int(row["point"]) for row in rows} == points
