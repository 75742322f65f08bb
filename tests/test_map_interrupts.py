"""A map run stopped by Ctrl-C or SIGTERM leaves nothing at its outputs, and a killed one goes
on from its finished blocks to the map an uninterrupted run gives."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from tests.band_scene import write_scene
from tests.extras import needs_extra
from tests.interrupted_runs import interrupt_once, start_patched
from tests.map_runs import read, run_map

pytestmark = needs_extra("maps")

# Once the first block is finished: ready, then the next block waits there (a signal lands).
AFTER_FIRST_BLOCK = """
import cropland.mapping.finished_blocks as m
save = m.FinishedBlocks.save
def save_then_wait(self, number, parts):
    save(self, number, parts)
    ready()
    time.sleep(300)
m.FinishedBlocks.save = save_then_wait
"""
OUTPUTS = ("map.tif", "map_probabilities.tif", "map_confidence.tif", "map.json")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return write_scene(tmp_path_factory.mktemp("scene") / "scene", size=130, cloudy_corner=30)


def start_map(tmp_path: Path, checkpoint: Path, scene: Path, out: Path):
    settings = [
        f"ckpt_path={checkpoint}",
        f"input={scene}",
        f"output={out / 'map.tif'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "progress=false",
        "block_size=65",
    ]
    return start_patched("map.py", settings, tmp_path, AFTER_FIRST_BLOCK)


@pytest.mark.parametrize(
    ("number", "status", "line"),
    [
        (signal.SIGINT, 130, "interrupted; nothing written at"),
        (signal.SIGTERM, 143, "Stopped by signal 15"),
    ],
    ids=["ctrl_c", "sigterm"],
)
def test_a_stopped_map_leaves_no_output(tmp_path, trained_run, scene, number, status, line):
    out = tmp_path / "out"
    out.mkdir()
    process = start_map(tmp_path, trained_run.best_checkpoint, scene, out)
    _, stderr = interrupt_once(process, tmp_path / "ready", number)
    assert process.returncode == status, stderr[-3000:]
    assert line in stderr and "Traceback" not in stderr, stderr[-3000:]
    assert not any((out / name).exists() for name in OUTPUTS)
    assert list((out / "map.tif.parts").glob("block_*.npz"))  # kept to go on from


def test_a_killed_map_goes_on_to_the_uninterrupted_map(tmp_path, trained_run, scene):
    out = tmp_path / "out"
    out.mkdir()
    process = start_map(tmp_path, trained_run.best_checkpoint, scene, out)
    interrupt_once(process, tmp_path / "ready", signal.SIGKILL)
    assert not any((out / name).exists() for name in OUTPUTS)
    resumed = run_map(out, trained_run.best_checkpoint, scene, "block_size=65")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "going on from 1 of 4 blocks finished by an earlier run" in resumed.stdout
    whole = tmp_path / "whole"
    whole.mkdir()
    uninterrupted = run_map(whole, trained_run.best_checkpoint, scene, "block_size=65")
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    assert "going on from" not in uninterrupted.stdout
    for name in OUTPUTS[:3]:
        np.testing.assert_array_equal(read(out / name)[0], read(whole / name)[0])
    assert not (out / "map.tif.parts").exists()
