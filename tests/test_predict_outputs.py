"""What scripts/predict.py writes: never over a file unless asked, never over its input, only
whole files, and a summary that accounts for every file it skipped."""

import csv
import io
import json
import os
import re
import shutil
from collections import Counter

import pytest
from PIL import Image

import cropland.inference.predict as pipeline
from cropland.data.layout import parse_patch_name
from cropland.data.prepared_file import PreparedFile
from cropland.inference.batch_prediction import predict
from cropland.io import TEMP_MARK
from tests.hydra_configs import compose_config
from tests.predict_runs import run_predict, unlabelled_tree
from tests.published_format import rows_from_tree, write_published_file
from tests.recording_model import RecordingModel
from tests.refusals import assert_refused
from tests.written_files import contents, dead_pid


def test_existing_output_is_refused_and_left_as_it_was(trained_run, prepared_file, tmp_path):
    output = tmp_path / "pred.csv"
    output.write_text("someone's earlier predictions\n")
    before = contents(tmp_path)
    result = run_predict(trained_run.best_checkpoint, prepared_file, output)
    assert_refused(result, f"output={output} already exists", "overwrite=true")
    assert contents(tmp_path) == before


def test_existing_input_summary_is_refused_too(trained_run, synthetic_tree, tmp_path):
    unlabelled_tree(synthetic_tree, tmp_path / "new", points=2)
    summary = tmp_path / "pred.input_summary.json"
    summary.write_text("{}\n")
    before = contents(tmp_path)
    result = run_predict(trained_run.best_checkpoint, tmp_path / "new", tmp_path / "pred.csv")
    assert_refused(result, f"{summary}, written beside output=", "overwrite=true")
    assert contents(tmp_path) == before


def test_overwrite_true_replaces_the_output(trained_run, prepared_file, tmp_path):
    output = tmp_path / "pred.csv"
    output.write_text("someone's earlier predictions\n")
    result = run_predict(trained_run.best_checkpoint, prepared_file, output, "overwrite=true")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(output) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(PreparedFile(prepared_file).sequences)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hydra", "pred.csv", "pred.scores.json"]


@pytest.mark.parametrize("alias", ["same_path", "hard_link"])
def test_output_that_is_the_input_is_refused_even_with_overwrite(
    alias, trained_run, prepared_file, tmp_path
):
    source = tmp_path / "input.h5"
    shutil.copy(prepared_file, source)
    output = source if alias == "same_path" else tmp_path / "alias.h5"
    if alias == "hard_link":
        os.link(source, output)
    before = contents(tmp_path)
    result = run_predict(trained_run.best_checkpoint, source, output, "overwrite=true")
    assert_refused(result, f"output={output} is input={source} itself", "choose another output")
    assert contents(tmp_path) == before


def test_output_that_is_the_checkpoint_is_refused_even_with_overwrite(
    trained_run, prepared_file, tmp_path
):
    checkpoint = tmp_path / "model.ckpt"
    shutil.copy(trained_run.best_checkpoint, checkpoint)
    before = contents(tmp_path)
    result = run_predict(checkpoint, prepared_file, checkpoint, "overwrite=true")
    assert_refused(result, f"is ckpt_path={checkpoint} itself")
    assert contents(tmp_path) == before


def test_batch_size_zero_is_refused(trained_run, prepared_file, tmp_path):
    result = run_predict(
        trained_run.best_checkpoint, prepared_file, tmp_path / "p.csv", "data.batch_size=0"
    )
    assert_refused(result, "data.batch_size=0", "at least 1")
    assert contents(tmp_path) == {}


def test_stale_temp_file_of_a_killed_run_is_removed(trained_run, prepared_file, tmp_path):
    # What a run killed with SIGKILL while writing pred.csv leaves behind.
    stale = tmp_path / f".pred{TEMP_MARK}{dead_pid()}.csv"
    stale.write_text("half a CSV")
    result = run_predict(trained_run.best_checkpoint, prepared_file, tmp_path / "pred.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hydra", "pred.csv", "pred.scores.json"]


def test_skipped_images_are_counted_and_their_months_named(trained_run, synthetic_tree, tmp_path):
    points = sorted(unlabelled_tree(synthetic_tree, tmp_path / "new", points=6))
    tree = tmp_path / "new"
    # One wrong-size image of a point with several months: that month goes, the row stays.
    by_point = {}
    for path in sorted(tree.glob("GNDVI/*.png")):
        by_point.setdefault(parse_patch_name(path.name).point, []).append(path)
    damaged_point = next(p for p in points if len(by_point[p]) >= 2)
    victim = by_point[damaged_point][1]
    Image.open(victim).resize((64, 64)).save(victim)
    # Every image of another point: it can have no row.
    lost_point = next(p for p in points if p != damaged_point)
    for path in tree.glob(f"*/POINT_{lost_point}_*.png"):
        Image.open(path).resize((64, 64)).save(path)

    output = tmp_path / "out" / "pred.csv"
    result = run_predict(trained_run.best_checkpoint, tree, output)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout + result.stderr

    with open(output) as f:
        rows = {int(row["point"]): row for row in csv.DictReader(f)}
    assert set(rows) == set(points) - {lost_point}
    month = str(parse_patch_name(victim.name).month)
    assert rows[damaged_point]["skipped_months"] == month
    assert month not in rows[damaged_point]["months"].split()
    assert all(rows[p]["skipped_months"] == "" for p in rows if p != damaged_point)

    summary_file = output.with_name("pred.input_summary.json")
    summary = json.loads(summary_file.read_text())
    lost_files = len(list(tree.glob(f"*/POINT_{lost_point}_*.png")))
    # The damaged image, its two other sensors, and every file of the lost point.
    assert sum(summary["skipped_by_reason"].values()) == len(summary["skipped"]) == 3 + lost_files
    assert summary["skipped_by_reason"]["wrong_size"] == 1 + lost_files
    assert str(victim) in {entry["path"] for entry in summary["skipped"]}
    assert summary["sequences_with_skipped_months"] == 1
    assert summary["sequences_without_a_row"] == 1
    assert summary["destination"] == str(output)

    assert f"skipped {3 + lost_files} files" in printed
    (printed_summary,) = re.findall(
        r"Input summary \(every file skipped, and why\): (\S+)", printed
    )
    assert printed_summary == str(summary_file)
    # Every path printed exists after the run: none names the deleted temporary file.
    assert "cropland-predict-" not in printed


def test_predict_sends_the_model_only_lengths_from_1_to_the_time_steps(
    trained_run, synthetic_tree, tmp_path, monkeypatch
):
    """Exported files do not check lengths (see the model card), so what predict sends must
    never need the check: sequences of 1 to 5 images, padded in batches."""
    calls: list[tuple[list[int], int]] = []

    def recording(model, *args, **kwargs):
        return predict(RecordingModel(model, calls), *args, **kwargs)

    monkeypatch.setattr(pipeline, "predict", recording)
    points = unlabelled_tree(synthetic_tree, tmp_path / "new", points=30)
    # One point with a single image: the shortest sequence there can be.
    single = min(points)
    dates = sorted(
        {parse_patch_name(p.name).date for p in tmp_path.glob(f"new/*/POINT_{single}_*")}
    )
    for date in dates[1:]:
        for path in tmp_path.glob(f"new/*/POINT_{single}_{date}_*.png"):
            path.unlink()
    overrides = [
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={tmp_path / 'new'}",
        f"output={tmp_path / 'pred.csv'}",
        "data.batch_size=7",
        "progress=false",
    ]
    pipeline.predict_to_csv(compose_config("predict", *overrides))

    sent = [length for lengths, _ in calls for length in lengths]
    assert {1, 5} <= set(sent)  # the shortest and longest sequences were sent
    for lengths, steps in calls:
        assert min(lengths) >= 1 and max(lengths) <= steps, (lengths, steps)


def test_skipped_image_of_the_published_file_names_its_month(trained_run, synthetic_tree, tmp_path):
    rows = rows_from_tree(synthetic_tree)
    points = sorted({row.point for row in rows})[:5]
    rows = [row for row in rows if row.point in points]
    per_point = Counter(row.point for row in rows)
    damaged = next(row for row in rows if per_point[row.point] >= 2)
    small = io.BytesIO()
    Image.open(damaged.images["GNDVI"]).resize((64, 64)).save(small, format="PNG")
    damaged.images["GNDVI"] = small.getvalue()
    published = write_published_file(tmp_path / "dataset_ca_19.hdf5", rows)

    output = tmp_path / "out" / "pred.csv"
    result = run_predict(trained_run.best_checkpoint, published, output)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(output) as f:
        found = {int(row["point"]): row for row in csv.DictReader(f)}
    assert set(found) == set(points)
    assert found[damaged.point]["skipped_months"] == str(int(damaged.date) % 100)
    assert all(found[p]["skipped_months"] == "" for p in points if p != damaged.point)
    summary = json.loads(output.with_name("pred.input_summary.json").read_text())
    assert summary["skipped_by_reason"] == {"bad_image_in_record": 2, "wrong_size": 1}
