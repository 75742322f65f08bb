"""Destinations checked before any work and claimed atomically: one that cannot be written is
refused up front, one that another run puts there while this one works is never replaced (the
rename itself refuses it), and a training run never writes into an earlier run's folder unless
it goes on with that run."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
import torch

import cropland.data.prepare.writer as prepare_writer
import cropland.inference.export as exporting
import cropland.inference.predict as predicting
import cropland.io as io
import cropland.training.train as training
from cropland.errors import CroplandError
from cropland.io import TEMP_MARK, atomic_output
from cropland.training.resume import ResumePoint, check_run_folder
from tests.predict_runs import run_predict
from tests.prepare_runs import prepare
from tests.refusals import assert_refused
from tests.script_runs import TINY_TRAINING, call_script
from tests.written_files import contents

APPEARED = "appeared while this run was writing it"


def _unwritable(tmp_path: Path, where: str, name: str) -> Path:
    """A destination no file can be written to: under /proc, under a folder still to be made
    there, or under a path whose parent is a file (permissions do not bind root, these do)."""
    if where == "proc":
        return Path("/proc") / name
    if where == "proc_new_folder":
        return Path("/proc") / "cropland-new" / "folder" / name
    blocker = tmp_path / "a_file"
    blocker.write_text("a file, not a folder\n")
    return blocker / "sub" / name


WHERE = ["proc", "proc_new_folder", "parent_is_a_file"]


def _predict_without_model_or_input(tmp_path: Path, output: Path):
    """Neither the checkpoint nor the input exist: a refusal of the output shows that it was
    checked before either was read."""
    return call_script(
        "predict.py",
        f"ckpt_path={tmp_path / 'absent.ckpt'}",
        f"input={tmp_path / 'absent.h5'}",
        f"output={output}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    )


@pytest.mark.parametrize("where", WHERE)
def test_predict_refuses_an_unwritable_output_before_loading_anything(tmp_path, where):
    output = _unwritable(tmp_path, where, "pred.csv")
    before = contents(tmp_path)
    result = _predict_without_model_or_input(tmp_path, output)
    line = assert_refused(result, f"output={output} cannot be written", "choose another output")
    assert "absent" not in line
    assert contents(tmp_path) == before


@pytest.mark.parametrize("where", WHERE)
def test_export_refuses_an_unwritable_output_before_loading_anything(tmp_path, where):
    output = _unwritable(tmp_path, where, "m.onnx")
    before = contents(tmp_path)
    result = call_script(
        "export.py",
        f"ckpt_path={tmp_path / 'absent.ckpt'}",
        f"output={output}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    )
    assert_refused(result, f"output={output} cannot be written", "choose another output")
    assert contents(tmp_path) == before


def test_prepare_refuses_an_unwritable_dst_before_reading_src(tmp_path):
    result = call_script(
        "prepare.py", f"src={tmp_path / 'absent'}", "dst=/proc/ca.h5", f"paths.log_dir={tmp_path}"
    )
    assert_refused(result, "dst=/proc/ca.h5 cannot be written", "choose another dst")


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_a_folder_without_write_permission_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = _predict_without_model_or_input(tmp_path, locked / "p.csv")
        assert_refused(result, "cannot be written", "Permission denied")
    finally:
        locked.chmod(0o700)


def test_a_file_that_appears_during_the_write_is_left_and_the_temp_removed(tmp_path):
    target = tmp_path / "pred.csv"
    with pytest.raises(CroplandError, match=APPEARED), atomic_output(target) as tmp:
        tmp.write_text("this run's\n")
        target.write_text("another run's\n")
    assert target.read_text() == "another run's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv"]


def test_without_hard_links_the_rename_still_refuses(tmp_path, monkeypatch):
    def no_hard_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(io.os, "link", no_hard_links)
    target = tmp_path / "pred.csv"
    with pytest.raises(CroplandError, match=APPEARED), atomic_output(target) as tmp:
        tmp.write_text("this run's\n")
        target.write_text("another run's\n")
    assert target.read_text() == "another run's\n"
    with atomic_output(tmp_path / "free.csv") as tmp:
        tmp.write_text("mine\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.csv", "pred.csv"]


def test_an_existing_file_is_refused_before_the_caller_writes(tmp_path):
    target = tmp_path / "pred.csv"
    target.write_text("earlier\n")
    with pytest.raises(CroplandError, match="already exists"), atomic_output(target):
        pytest.fail("the caller was let write")
    assert target.read_text() == "earlier\n"


def test_overwrite_replaces_a_file_that_appeared(tmp_path):
    target = tmp_path / "pred.csv"
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("this run's\n")
        target.write_text("another run's\n")
    assert target.read_text() == "this run's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv"]


@pytest.mark.parametrize("appearing", ["folder_with_files", "file"])
def test_a_tree_that_appears_during_the_write_is_left_and_the_temp_removed(tmp_path, appearing):
    root = tmp_path / "tree"
    with pytest.raises(CroplandError, match=APPEARED), atomic_output(root, folder=True) as tmp:
        (tmp / "RGB").mkdir()
        (tmp / "RGB" / "mine.png").write_bytes(b"this run's")
        if appearing == "file":
            root.write_text("another run's\n")
        else:
            (root / "NDVI").mkdir(parents=True)
            (root / "NDVI" / "theirs.png").write_bytes(b"another run's")
    if appearing == "file":
        assert root.read_text() == "another run's\n"
    else:
        assert [str(p.relative_to(root)) for p in sorted(root.rglob("*"))] == [
            "NDVI",
            "NDVI/theirs.png",
        ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_an_empty_folder_counts_as_absent(tmp_path):
    """Nothing in it to lose: the synthetic tree writer takes an empty dst."""
    root = tmp_path / "tree"
    root.mkdir()
    with atomic_output(root, folder=True) as tmp:
        (tmp / "done.txt").write_text("done")
    assert [p.name for p in root.iterdir()] == ["done.txt"]


def test_prepare_loses_to_a_dst_that_appears_while_it_writes(clean_tree, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "ca.h5"
    batches = prepare_writer._pixel_batches

    def another_prepare_finishes_first(*args, **kwargs):
        yield from batches(*args, **kwargs)
        dst.write_bytes(b"another prepare's file")

    monkeypatch.setattr(prepare_writer, "_pixel_batches", another_prepare_finishes_first)
    with pytest.raises(CroplandError, match=APPEARED):
        prepare(clean_tree, dst)
    assert dst.read_bytes() == b"another prepare's file"
    assert sorted(p.name for p in out.iterdir()) == ["ca.h5"]  # no temp file, no summary


def test_predict_loses_to_an_output_that_appears_while_it_predicts(
    trained_run, prepared_file, tmp_path, monkeypatch
):
    output = tmp_path / "pred.csv"
    real_predict = predicting.predict

    def another_predict_finishes_first(*args, **kwargs):
        found = real_predict(*args, **kwargs)
        output.write_text("another run's predictions\n")
        return found

    monkeypatch.setattr(predicting, "predict", another_predict_finishes_first)
    result = run_predict(trained_run.best_checkpoint, prepared_file, output)
    assert_refused(result, f"{output} already exists", "another run")
    assert output.read_text() == "another run's predictions\n"
    # Nothing else is left: no temp file, and the refused run's folder is gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv"]


def test_export_loses_to_an_output_that_appears_while_it_checks(trained_run, tmp_path, monkeypatch):
    output = tmp_path / "out" / "m.pt"
    real_check = exporting.check_exported

    def another_export_finishes_first(format, path, classifier):
        difference = real_check(format, path, classifier)
        output.write_bytes(b"another export")
        return difference

    monkeypatch.setattr(exporting, "check_exported", another_export_finishes_first)
    result = call_script(
        "export.py",
        f"ckpt_path={trained_run.best_checkpoint}",
        "format=torchscript",
        f"output={output}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    )
    assert_refused(result, f"{output} {APPEARED}")
    assert output.read_bytes() == b"another export"
    assert sorted(p.name for p in output.parent.iterdir()) == ["m.pt"]  # no temp, no card


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_train_into_an_earlier_runs_folder_is_refused_and_changes_nothing(
    trained_run, prepared_file, tmp_path
):
    earlier = tmp_path / "run"
    shutil.copytree(trained_run.folder, earlier)
    (earlier / ".hydra").mkdir(exist_ok=True)
    (earlier / ".hydra" / "overrides.yaml").write_text("- seed=7\n")  # the earlier command
    before = _snapshot(earlier)
    result = call_script(
        "train.py", *TINY_TRAINING, f"data.path={prepared_file}", f"hydra.run.dir={earlier}"
    )
    last = earlier / "checkpoints" / "last.ckpt"
    assert_refused(result, f"the run folder {earlier} already holds a run", f"ckpt_path={last}")
    # Refused before Hydra writes its record of this command or its log file there.
    assert _snapshot(earlier) == before


def test_a_folder_hydra_has_just_made_is_free(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("{}\n")
    (tmp_path / "train.log").write_text("")
    assert check_run_folder(tmp_path, None) is False


def test_an_earlier_run_is_written_into_only_to_go_on_with_it(tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("{}\n")
    assert check_run_folder(run, ResumePoint(run / "checkpoints" / "last.ckpt", {})) is True
    with pytest.raises(CroplandError, match="already holds a run"):
        check_run_folder(run, ResumePoint(other / "checkpoints" / "last.ckpt", {}))
    with pytest.raises(CroplandError, match=r"already holds a run \(config.yaml, checkpoints\)"):
        check_run_folder(run, None)


def test_of_two_trains_started_into_one_folder_the_second_stops_before_training(
    prepared_file, tmp_path, monkeypatch
):
    folder = tmp_path / "run"
    check_optimizer = training._check_optimizer_config

    def the_other_run_writes_its_config_meanwhile(cfg):
        check_optimizer(cfg)
        (folder / "config.yaml").write_text("the other run's\n")

    monkeypatch.setattr(
        training, "_check_optimizer_config", the_other_run_writes_its_config_meanwhile
    )
    result = call_script(
        "train.py", *TINY_TRAINING, f"data.path={prepared_file}", f"hydra.run.dir={folder}"
    )
    assert_refused(result, f"{folder / 'config.yaml'} already exists", "another run")
    assert (folder / "config.yaml").read_text() == "the other run's\n"
    assert not (folder / "checkpoints").exists()
    assert not [p for p in folder.iterdir() if TEMP_MARK in p.name]


def test_going_on_with_a_run_in_its_own_folder_replaces_its_files(
    trained_run, prepared_file, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(trained_run.folder, run)
    last = run / "checkpoints" / "last.ckpt"
    earlier_metrics = (run / "metrics.json").read_text()
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        "trainer.max_epochs=2",
        f"hydra.run.dir={run}",
        f"ckpt_path={last}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 1  # from 0
    assert (run / "metrics.json").read_text() != earlier_metrics
    assert not [p for p in run.rglob("*") if TEMP_MARK in p.name]
