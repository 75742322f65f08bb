"""The pipeline behind ``scripts/predict.py``: class probabilities for every sequence of new data.

The input is a PNG tree, the published project's HDF5 or a prepared file; the first two are
prepared into a temporary file first (any sequence length from 1, labels not needed). The
checkpoint says everything else: channels, normalization, class names.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from rich.progress import track
from torch.utils.data import DataLoader

from cropland.data.channels import channel_indices, sensors_of_channels
from cropland.data.layout import IMAGE_SIZE
from cropland.data.prepare import prepare_dataset, summary_path
from cropland.data.prepared_file import PreparedFile, is_prepared_file
from cropland.data.sequence_dataset import (
    CropSequenceDataset,
    channel_statistics,
    pad_sequences,
    to_unit_range,
)
from cropland.errors import CroplandError
from cropland.evaluation.model_loading import load_model, wrap_published
from cropland.evaluation.predictions import predict
from cropland.io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)


def predict_to_csv(cfg: DictConfig) -> Path:
    """Write one CSV row per sequence of ``cfg.input``; returns the CSV's path."""
    output = Path(cfg.output) if cfg.output else Path(cfg.paths.output_dir) / "predictions.csv"
    if output.is_dir():
        raise CroplandError(f"output={output} is a folder; give a file, e.g. {output}/pred.csv")
    loaded = load_model(cfg.ckpt_path)
    sensors = sensors_of_channels(loaded.channels)
    with _prepared(Path(cfg.input), sensors, cfg.progress, _input_summary_path(output)) as path:
        source = PreparedFile(path)
        _check_input(source, loaded.channels, cfg.input, loaded.path)
        indices = channel_indices(sensors, source.channels)
        everything = np.arange(len(source.sequences))
        dataset = CropSequenceDataset(path, source.records, source.sequences, everything, indices)
        model = loaded.classifier
        if model is None:
            # The published recipe standardized with statistics over all the data it saw.
            mean, std = channel_statistics(dataset)
            model = wrap_published(loaded.published_net, mean.tolist(), std.tolist())
        loader = DataLoader(dataset, batch_size=cfg.batch_size, collate_fn=pad_sequences)
        batches = track(loader, description="predicting", disable=not cfg.progress)
        found = predict(model, batches, _to_model_input)
        text = _csv(found, source, list(model.classes))
    write_text_atomic(output, text)
    log.info("Wrote %d predictions to %s", len(found.index), output)
    return output


def _input_summary_path(output: Path) -> Path:
    """Where the preparation summary of the input goes (what was read, what was skipped)."""
    return output.with_name(f"{output.stem}.input_summary.json")


@contextlib.contextmanager
def _prepared(source: Path, sensors: list[str], progress: bool, summary: Path) -> Iterator[Path]:
    """A prepared file of ``source``: itself, or a temporary conversion deleted afterwards
    whose summary is kept at ``summary``."""
    if not source.exists():
        raise CroplandError(
            f"input={source} does not exist; give a PNG tree folder, the published .hdf5 "
            "file or a file written by scripts/prepare.py"
        )
    if is_prepared_file(source):
        yield source
        return
    if source.is_dir():
        missing = [sensor for sensor in sensors if not (source / sensor).is_dir()]
        if missing:
            raise CroplandError(
                f"input={source} has no {', '.join(missing)} folder; the model needs patches of "
                f"{', '.join(sensors)} (<input>/<SENSOR>/.../POINT_..._<SENSOR>.png)"
            )
    with tempfile.TemporaryDirectory(prefix="cropland-predict-") as folder:
        converted = Path(folder) / "input.h5"
        try:
            # min_length=1: any number of months is a sequence to predict.
            prepare_dataset(source, converted, min_length=1, progress=progress, sensors=sensors)
        except CroplandError as error:
            details = _kept_summary(summary_path(converted), summary)
            if details is None:
                raise
            raise CroplandError(
                f"input={source}: nothing the model can use ({', '.join(sensors)} patches of "
                f"{IMAGE_SIZE}x{IMAGE_SIZE} pixels); {details}; see {summary}"
            ) from error
        _kept_summary(summary_path(converted), summary)
        yield converted


def _kept_summary(written: Path, kept: Path) -> str | None:
    """Copy the preparation summary to ``kept``; return its skip reasons in a few words."""
    if not written.is_file():
        return None
    content = json.loads(written.read_text())
    write_json_atomic(kept, content)
    reasons = content.get("skipped_by_reason", {})
    if not reasons:
        return "no file was skipped"
    first = {}
    for entry in content.get("skipped", []):
        first.setdefault(entry["reason"], entry)
    parts = [
        f"{reason} {count} (e.g. {first[reason]['path']}: {first[reason]['detail']})"
        if reason in first
        else f"{reason} {count}"
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1])[:3]
    ]
    return "skipped files by reason: " + "; ".join(parts)


def _check_input(source: PreparedFile, channels: list[str], given: str, ckpt: Path) -> None:
    missing = [c for c in channels if c not in source.channels]
    if missing:
        raise CroplandError(
            f"input={given} has no {', '.join(missing)} channel; the model {ckpt} needs "
            f"{', '.join(channels)}"
        )
    size = source.pixel_shape[-1]
    if size != IMAGE_SIZE:
        raise CroplandError(
            f"input={given} holds {size}x{size} images; the model {ckpt} expects "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} patches"
        )


def _to_model_input(batch: dict) -> dict:
    return {**batch, "image": to_unit_range(batch["image"])}


def _csv(found, source: PreparedFile, classes: list[str]) -> str:
    sequences, records = source.sequences, source.records
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "point",
            "province",
            "year",
            "months",
            "images",
            "predicted",
            "probability",
            *(f"p_{name}" for name in classes),
        ]
    )
    order = np.argsort(found.index)
    for row in order:
        sequence = int(found.index[row])
        start, length = int(sequences.start[sequence]), int(sequences.length[sequence])
        months = records.month[start : start + length]
        probabilities = found.probabilities[row]
        predicted = int(probabilities.argmax())
        writer.writerow(
            [
                int(sequences.point[sequence]),
                sequences.province[sequence],
                int(sequences.year[sequence]),
                " ".join(str(int(m)) for m in months),
                length,
                classes[predicted],
                f"{probabilities[predicted]:.6f}",
                *(f"{p:.6f}" for p in probabilities),
            ]
        )
    return buffer.getvalue()
