"""Ctrl-C ends a script with one line saying what it left, status 130 and no traceback, its
temporary files removed; SIGTERM still ends it cleanly with 143."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cropland.cli import exit_on_user_error
from cropland.io import TEMP_MARK, write_text_atomic
from tests.interrupted_runs import (
    WAIT_THERE,
    interrupt_once,
    start_patched,
    tmpdir_of,
)
from tests.script_runs import PROJECT_ROOT, TINY_TRAINING

PATCHES = {
    # While it predicts, with the input tree prepared into a temporary folder.
    "predict.py": WAIT_THERE + "import cropland.inference.predict as m\nm.predict = wait_there\n",
    # While it checks the exported file, which is still a temp file beside the output.
    "export.py": WAIT_THERE
    + "import cropland.inference.export as m\nm.check_exported = wait_there\n",
    # While it writes the prepared file: small batches, decoded slowly, in a thread.
    "prepare.py": """
import cropland.data.prepare.writer as m
decode = m._decode_batch
def slow_decode(records, pngs):
    ready()
    time.sleep(0.05)
    return decode(records, pngs)
m._decode_batch = slow_decode
m.BATCH_RECORDS = 4
""",
}


def _temp_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if TEMP_MARK in path.name]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("number", "status", "line"),
    [
        (signal.SIGINT, 130, "interrupted; nothing written at {output}"),
        pytest.param(
            signal.SIGTERM,
            143,
            "Stopped by signal 15; removing temporary files",
            marks=pytest.mark.slow,  # as tests/test_bad_data_interrupted.py checks for prepare
        ),
    ],
    ids=["ctrl_c", "sigterm"],
)
def test_an_interrupted_predict_says_so_and_leaves_nothing(
    trained_run, synthetic_tree, tmp_path, out, number, status, line
):
    output = out / "pred.csv"
    overrides = [
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={synthetic_tree}",
        f"output={output}",
        "progress=false",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    process = start_patched("predict.py", overrides, tmp_path, PATCHES["predict.py"])
    assert [p.name for p in tmpdir_of(tmp_path).iterdir()] == []
    _, stderr = interrupt_once(process, tmp_path / "ready", number)

    assert process.returncode == status, stderr[-3000:]
    assert stderr.splitlines() == [line.format(output=output)]
    assert list(out.iterdir()) == []
    # The input tree's temporary conversion is gone too.
    assert not list(tmpdir_of(tmp_path).glob("cropland-predict-*"))


def test_an_interrupted_export_removes_its_temp_file(trained_run, tmp_path, out):
    output = out / "m.pt"
    overrides = [
        f"ckpt_path={trained_run.best_checkpoint}",
        "format=torchscript",
        f"output={output}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    process = start_patched("export.py", overrides, tmp_path, PATCHES["export.py"])
    _, stderr = interrupt_once(process, tmp_path / "ready", signal.SIGINT)

    assert process.returncode == 130, stderr[-3000:]
    assert stderr.splitlines() == [f"interrupted; nothing written at {output}"]
    assert list(out.iterdir()) == []


def test_an_interrupted_prepare_says_so(synthetic_tree, tmp_path, out):
    dst = out / "ca.h5"
    overrides = [f"src={synthetic_tree}", f"dst={dst}", "progress=false"]
    overrides.append(f"paths.log_dir={tmp_path / 'logs'}")
    process = start_patched("prepare.py", overrides, tmp_path, PATCHES["prepare.py"])
    _, stderr = interrupt_once(process, tmp_path / "ready", signal.SIGINT)

    assert process.returncode == 130, stderr[-3000:]
    assert stderr.splitlines() == [f"interrupted; nothing written at {dst}"]
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_an_interrupted_training_names_the_checkpoint_to_resume_from(prepared_file, tmp_path):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    overrides = [
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        "trainer.max_epochs=1000",
        "callbacks.early_stopping=null",
        f"hydra.run.dir={run}",
    ]
    process = start_patched("train.py", overrides, tmp_path)
    _, stderr = interrupt_once(process, last, signal.SIGINT)

    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    ours = [line for line in stderr.splitlines() if line.startswith("interrupted;")]
    assert ours == [stderr.splitlines()[-1]]
    assert ours[0].startswith("interrupted; kept ")
    assert f"in {run / 'checkpoints'}: resume with ckpt_path={last}" in ours[0]
    assert not _temp_files(run)


def _run_interrupted(main, run_folder: Path) -> int:
    """The exit status of ``main`` wrapped as the scripts are, the signal handlers the wrapper
    installs put back afterwards."""
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        with pytest.raises(SystemExit) as stopped:
            exit_on_user_error(main)(OmegaConf.create({"paths": {"output_dir": str(run_folder)}}))
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return stopped.value.code


def test_ctrl_c_after_a_file_was_put_in_place_names_it(tmp_path, capsys):
    written = tmp_path / "a.txt"

    def main(cfg):
        write_text_atomic(written, "done\n")
        raise KeyboardInterrupt

    assert _run_interrupted(main, tmp_path) == 130
    err = capsys.readouterr().err
    assert err == f"interrupted; wrote {written} before it stopped; nothing else was written\n"


def test_ctrl_c_before_anything_names_the_run_folder(tmp_path, capsys):
    def main(cfg):
        raise KeyboardInterrupt

    assert _run_interrupted(main, tmp_path) == 130
    assert capsys.readouterr().err == f"interrupted; nothing written in the run folder {tmp_path}\n"


def test_ctrl_c_while_a_script_starts_is_one_line_too(tmp_path):
    """A Ctrl-C that lands while the script still imports (seconds for torch and Lightning),
    before its work has begun; the import is held up here so that it lands there."""
    ready = tmp_path / "ready"
    starting = (
        "import sys, time\n"
        "sys.argv = [sys.argv[0], 'ckpt_path=x', 'input=y']\n"
        "import cropland.quiet_start\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(60)\n"
        "import runpy\n"
        f"runpy.run_path({str(PROJECT_ROOT / 'scripts' / 'predict.py')!r}, run_name='__main__')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", starting],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = interrupt_once(process, ready, signal.SIGINT)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == ["interrupted while starting; nothing written"]
