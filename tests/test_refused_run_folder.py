"""A run refused with a one-line error leaves no run folder behind, and never removes a folder
that holds anything but what Hydra wrote."""

from __future__ import annotations

from tests.script_runs import TINY_TRAINING, call_script


def _refused_run(prepared_file, run_dir):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        "data.split=all",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data.split=all")
    return result


def test_a_refused_run_leaves_no_run_folder(prepared_file, tmp_path):
    _refused_run(prepared_file, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_folder_holding_other_files_is_kept(prepared_file, tmp_path):
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    _refused_run(prepared_file, run_dir)
    assert (run_dir / "notes.txt").read_text() == "mine"
