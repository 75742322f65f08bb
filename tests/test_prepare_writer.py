"""Preparation's writer: the file's attributes and pixels, and an atomic write."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import cropland.data.prepare.sources as sources
import cropland.data.prepare.writer as writer
from cropland.data.layout import CHANNELS, CLASSES, IMAGE_SIZE, SENSORS
from cropland.data.png_tree import read_patch
from cropland.data.prepared_file import PreparedFile
from cropland.io import owner_of_temp
from tests.prepare_runs import prepare
from tests.tiny_tree import expected_record


def test_file_attributes(clean_tree: Path, tmp_path: Path) -> None:
    prepare(clean_tree, tmp_path / "out.h5")
    attrs = PreparedFile(tmp_path / "out.h5").attrs

    assert attrs["classes"] == list(CLASSES)
    assert attrs["channels"] == list(CHANNELS)
    assert attrs["sensors"] == list(SENSORS)
    assert attrs["image_size"] == IMAGE_SIZE
    assert attrs["min_length"] == 3
    assert attrs["source"] == str(clean_tree)


def test_pixels_round_trip_exactly(clean_tree: Path, tmp_path: Path) -> None:
    prepare(clean_tree, tmp_path / "out.h5")
    prepared = PreparedFile(tmp_path / "out.h5")
    pixels = prepared.read_pixels()

    assert pixels.dtype == np.uint8
    assert pixels.shape == (8, len(CHANNELS), IMAGE_SIZE, IMAGE_SIZE)
    for i, (point, date) in enumerate(
        zip(prepared.records.point, prepared.records.date, strict=True)
    ):
        np.testing.assert_array_equal(pixels[i], expected_record(int(point), int(date)))


def test_failure_mid_write_leaves_no_dst(
    clean_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    files_checked = 10 * len(SENSORS)  # the first pass decodes every complete record once
    calls = 0
    files_at_crash = []

    def read_then_fail(source, sensor, **kwargs):
        nonlocal calls
        calls += 1
        if calls > files_checked + 3 * len(SENSORS):  # a few records into writing
            files_at_crash.extend(out.iterdir())
            raise RuntimeError("simulated crash")
        return read_patch(source, sensor, **kwargs)

    monkeypatch.setattr(sources, "read_patch", read_then_fail)
    monkeypatch.setattr(writer, "BATCH_RECORDS", 2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        prepare(clean_tree, out / "prepared.h5")

    # It was writing into its recognisable temp file, not yet renamed.
    assert [owner_of_temp(p) for p in files_at_crash] == [os.getpid()]
    assert [p.suffix for p in files_at_crash] == [".h5"]
    assert list(out.iterdir()) == []
