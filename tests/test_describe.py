"""Describing a prepared file: split counts, months, channel statistics, figures, TensorBoard."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from cropland.cli import exit_on_user_error
from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import CHANNELS, CLASSES, IMAGE_SIZE, SENSORS
from cropland.data.prepared_file import (
    PreparedFile,
    PreparedFileError,
    RecordTable,
    SequenceTable,
    write_prepared_file,
)
from cropland.data.splits import NO_SPLIT, SPLIT_NAMES, assign_splits
from cropland.describe import tables
from cropland.describe.describe import describe
from cropland.describe.pixel_statistics import channel_histograms
from cropland.errors import CroplandError
from tests.hydra_configs import compose_config
from tests.script_runs import run_script

SUMMARY_FIGURES = ["class_counts", "sequence_lengths", "months", "channel_distributions"]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory) -> Path:
    """The TensorBoard folder of a run that already has event files."""
    folder = tmp_path_factory.mktemp("train_run") / "tensorboard"
    with SummaryWriter(log_dir=str(folder)) as writer:
        writer.add_scalar("val/acc", 0.5, 0)
    return folder


@pytest.fixture(scope="module")
def described(prepared_file, existing_run, tmp_path_factory) -> tuple[Path, dict]:
    """One run of the real script, as a user runs it, also writing into ``existing_run``."""
    run_dir = tmp_path_factory.mktemp("describe") / "run"
    result = run_script(
        "describe.py",
        f"data.path={prepared_file}",
        f"tensorboard_dir={existing_run}",
        "mosaic.sequences_per_class=1",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr
    assert "Sequences per class and split" in result.stdout
    return run_dir, json.loads((run_dir / "describe.json").read_text())


def _datamodule(path: Path, split: str = "stratified") -> CropSequenceDataModule:
    datamodule = CropSequenceDataModule(path=str(path), split=split)
    datamodule.setup("fit")
    return datamodule


@pytest.fixture(scope="module")
def datamodule(prepared_file) -> CropSequenceDataModule:
    """The datamodule of a training run on the same file, with the default split."""
    return _datamodule(prepared_file)


def test_class_counts_per_split_are_the_datamodules(described, datamodule, prepared_file):
    _, description = described
    counts = description["class_counts"]
    for name in SPLIT_NAMES:
        labels = datamodule.datasets[name].labels
        expected = np.bincount(labels, minlength=len(CLASSES))
        assert [counts[name][c] for c in CLASSES] == expected.tolist(), name
    labelled = int((PreparedFile(prepared_file).sequences.label >= 0).sum())
    assert sum(sum(per_class.values()) for per_class in counts.values()) == labelled
    assert description["unknown_label_sequences"] == 0
    assert description["split"]["method"] == "stratified"


def test_split_assignment_matches_the_datamodule(datamodule, prepared_file):
    sequences = PreparedFile(prepared_file).sequences
    for trained in (datamodule, _datamodule(prepared_file, split="predefined")):
        split_ids = assign_splits(
            sequences, trained.split, trained.val_fraction, trained.test_fraction, trained.seed
        )
        np.testing.assert_array_equal(split_ids, trained.split_ids, err_msg=trained.split)


def test_months_and_lengths_match_the_records(described, prepared_file):
    _, description = described
    source = PreparedFile(prepared_file)
    month_sets = []
    for start, length in zip(source.sequences.start, source.sequences.length, strict=True):
        month_sets.append(tuple(sorted(set(source.records.date[start : start + length] % 100))))
    presence = Counter(month for months in month_sets for month in months)
    saved = description["months"]["sequences_with_image"]
    assert {int(m): n for m, n in saved.items()} == {m: presence[m] for m in range(6, 11)}
    top = Counter(month_sets).most_common(1)[0]
    assert description["months"]["common_sets"][0]["sequences"] == top[1]
    lengths = Counter(source.sequences.length.tolist())
    assert {int(n): c for n, c in description["sequence_lengths"]["all"].items()} == lengths


def test_channel_statistics_match_numpy(described, datamodule, prepared_file):
    _, description = described
    source = PreparedFile(prepared_file)
    pixels = source.read_pixels().astype(np.float64)
    split_ids = datamodule.split_ids
    train_records = np.concatenate(
        [
            np.arange(start, start + length)
            for start, length, split in zip(
                source.sequences.start, source.sequences.length, split_ids, strict=True
            )
            if split == 0
        ]
    )
    for group, group_pixels in (("all", pixels), ("train", pixels[train_records])):
        for index, channel in enumerate(CHANNELS):
            values = group_pixels[:, index]
            saved = description["channel_statistics"][group][channel]
            assert saved["mean"] == pytest.approx(values.mean(), rel=1e-9), (group, channel)
            assert saved["std"] == pytest.approx(values.std(), rel=1e-9), (group, channel)
            assert (saved["min"], saved["max"]) == (values.min(), values.max())
            assert saved["pixels"] == values.size


def test_figures_are_png_files(described):
    run_dir, description = described
    expected = SUMMARY_FIGURES + [f"mosaic/{name}" for name in CLASSES]
    assert description["figures"] == [f"{name}.png" for name in expected]
    for name in description["figures"]:
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG"
            image.verify()
    assert all(len(chosen) == 1 for chosen in description["mosaics"]["sequences"].values())


def _image_tags(folder: Path) -> set[str]:
    tags = set()
    for events in folder.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["images"])
    return tags


def test_figures_go_to_tensorboard_of_the_run_and_of_an_existing_run(described, existing_run):
    run_dir, _ = described
    expected = {f"describe/{name}" for name in SUMMARY_FIGURES} | {"describe/mosaic/BARLEY"}
    assert expected <= _image_tags(run_dir / "tensorboard")
    assert expected <= _image_tags(existing_run)


def _compose(tmp_path: Path, *overrides: str):
    cfg = compose_config("describe", "progress=false", *overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")  # set by Hydra at run time
    return cfg


def test_missing_file_exits_2_without_generating_data(tmp_path, capsys):
    absent = tmp_path / "absent.h5"
    # The default data group makes its synthetic file on first use; a path given by hand must not.
    with pytest.raises(SystemExit) as exit_info:
        exit_on_user_error(describe)(_compose(tmp_path, f"data.path={absent}"))
    assert exit_info.value.code == 2
    assert f"error: data.path={absent} does not exist" in capsys.readouterr().err
    assert not absent.exists() and not absent.with_suffix("").exists()


def test_a_file_that_is_not_prepared_is_refused(tmp_path):
    not_prepared = tmp_path / "notes.h5"
    not_prepared.write_text("not HDF5")
    with pytest.raises(PreparedFileError, match="is not an HDF5 file; expected a prepared"):
        describe(_compose(tmp_path, f"data.path={not_prepared}"))


def test_tensorboard_dir_without_event_files_is_refused(prepared_file, tmp_path):
    cfg = _compose(tmp_path, f"data.path={prepared_file}", f"tensorboard_dir={tmp_path}")
    with pytest.raises(CroplandError, match="tensorboard_dir=.* event files"):
        describe(cfg)


def _file_with_an_unknown_crop(path: Path) -> PreparedFile:
    """Three sequences of three records: BARLEY, CANOLA and a crop that is no known class."""
    length = 3
    crops = ["BARLEY", "CANOLA", "RICE"]
    records = RecordTable(
        point=np.repeat([1, 2, 3], length),
        date=np.tile([201906, 201907, 201909], 3),
        province=np.array(["QC"] * 9, dtype=object),
        crop=np.array([c for c in crops for _ in range(length)], dtype=object),
        split_folder=np.array(["training"] * 9, dtype=object),
    )
    sequences = SequenceTable(
        start=np.array([0, 3, 6]),
        length=np.full(3, length),
        point=np.array([1, 2, 3]),
        province=np.array(["QC"] * 3, dtype=object),
        year=np.full(3, 2019),
        label=np.array([0, 1, -1]),
        split_folder=np.array(["training"] * 3, dtype=object),
    )
    # Record r has every pixel of every channel equal to 10 r, so group statistics are known.
    pixels = np.broadcast_to(
        (np.arange(9, dtype=np.uint8) * 10)[:, None, None, None],
        (9, len(CHANNELS), IMAGE_SIZE, IMAGE_SIZE),
    )
    attrs = {
        "classes": list(CLASSES),
        "channels": list(CHANNELS),
        "sensors": list(SENSORS),
        "image_size": IMAGE_SIZE,
        "min_length": length,
        "source": "test",
    }
    write_prepared_file(path, records, sequences, [np.ascontiguousarray(pixels)], attrs)
    return PreparedFile(path)


def test_unknown_crop_sequences_are_counted_apart(tmp_path):
    source = _file_with_an_unknown_crop(tmp_path / "unknown.h5")
    split_ids = assign_splits(source.sequences, "stratified", 0.1, 0.1, seed=0)
    assert split_ids.tolist() == [0, 0, NO_SPLIT]
    counts = tables.class_counts(source.sequences.label, split_ids, source.classes)
    assert counts["train"]["BARLEY"] == counts["train"]["CANOLA"] == 1
    assert sum(sum(c.values()) for c in counts.values()) == 2
    assert tables.unknown_label_crops(source.sequences, source.records) == {"RICE": 1}
    assert tables.length_counts(source.sequences.length, split_ids)["unknown_label"] == {3: 1}

    histograms = channel_histograms(
        source, tables.group_indices(split_ids), len(tables.GROUPS), block=2, progress=False
    )
    statistics = histograms.statistics(tables.GROUPS, source.channels)
    assert statistics["unknown_label"]["red"]["mean"] == pytest.approx(70.0)  # records 6-8
    assert statistics["train"]["ndvi"]["mean"] == pytest.approx(25.0)  # records 0-5
    assert statistics["all"]["psri"]["max"] == 80
    assert statistics["val"]["red"]["mean"] is None
