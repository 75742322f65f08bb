"""A prepare stopped while it writes: killed (SIGKILL), interrupted (Ctrl-C) or terminated.

Killed, it leaves its temp file ``.<stem>.cropland-tmp-<pid>.h5``, which the next prepare into
the folder reports and removes; interrupted or terminated, it removes the file itself, and
neither signal may reach HDF5 as a failed write (which would crash it, see
``test_bad_data_disk_full.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cropland.data.hdf5_write_sink import signals_held_back
from cropland.data.prepared_file import PreparedFile
from cropland.io import owner_of_temp
from tests.prepare_runs import run_prepare
from tests.script_runs import PROJECT_ROOT

# scripts/prepare.py, run as a user runs it, but writing slowly (a short sleep per batch of 4
# records) so that a signal sent once its temp file shows up lands during the write.
SLOW_PREPARE = """
import runpy, sys, time
import cropland.data.prepare.writer as prepare
decode = prepare._decode_batch
def slow_decode(records, pngs):
    time.sleep(0.02)
    return decode(records, pngs)
prepare._decode_batch = slow_decode
prepare.BATCH_RECORDS = 4
sys.argv = sys.argv[1:]  # [scripts/prepare.py, overrides...], as when run directly
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def start_slow_prepare(src: Path, dst: Path, tmp_path: Path) -> subprocess.Popen:
    script = PROJECT_ROOT / "scripts" / "prepare.py"
    overrides = [f"src={src}", f"dst={dst}", "progress=false", f"paths.log_dir={tmp_path}/logs"]
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_PREPARE, str(script), *overrides],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_temp_file(folder: Path, process: subprocess.Popen) -> Path:
    """The temp file ``process`` writes in ``folder``, once it exists."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [p for p in folder.glob(".*") if owner_of_temp(p) == process.pid]
        if found:
            return found[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    process.kill()
    raise AssertionError(f"no temp file of process {process.pid} in {folder}")


def test_a_killed_prepare_leaves_a_temp_file_the_next_one_removes(
    synthetic_tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "ca.h5"
    process = start_slow_prepare(synthetic_tree, dst, tmp_path)
    temp = wait_for_temp_file(out, process)
    process.kill()
    process.communicate()

    assert temp.name == f".ca.cropland-tmp-{process.pid}.h5"
    assert sorted(p.name for p in out.iterdir()) == [temp.name]  # no dst

    again = run_prepare(tmp_path, f"src={synthetic_tree}", f"dst={dst}", "progress=false")

    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        f"Removing {temp}, a temporary file left by process {process.pid}, which has ended"
        in again.stdout + again.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == ["ca.h5", "ca.summary.json"]
    assert len(PreparedFile(dst).records) > 0


@pytest.mark.parametrize(
    ("number", "returncode"),
    [(signal.SIGINT, 128 + signal.SIGINT), (signal.SIGTERM, 128 + signal.SIGTERM)],
    ids=["ctrl_c", "sigterm"],
)
def test_an_interrupted_prepare_removes_its_temp_file(
    synthetic_tree: Path, tmp_path: Path, number: int, returncode: int
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    process = start_slow_prepare(synthetic_tree, out / "ca.h5", tmp_path)
    wait_for_temp_file(out, process)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=120)

    # Ctrl-C exits 130 (cropland.cli), SIGTERM 143 (cropland.io), as a shell reports either.
    assert process.returncode == returncode, stderr[-3000:]
    assert "Segmentation fault" not in stderr
    assert list(out.iterdir()) == []


def test_signals_are_held_back_until_delivered() -> None:
    with pytest.raises(KeyboardInterrupt), signals_held_back() as deliver:
        signal.raise_signal(signal.SIGINT)  # as if Ctrl-C came while HDF5 was writing
        reached = True
        deliver()
        reached = False
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_that_comes_last_is_delivered_on_exit() -> None:
    with pytest.raises(KeyboardInterrupt):
        with signals_held_back():
            signal.raise_signal(signal.SIGINT)
        pytest.fail("the held-back Ctrl-C was not delivered")
