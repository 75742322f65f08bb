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
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from rich.progress import track

from cropland.data.channels import sensors_of_channels
from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import IMAGE_SIZE, UNKNOWN_CLASS, parse_patch_name
from cropland.data.loader_settings import LOADER_SETTINGS, check_loader_settings
from cropland.data.prepare import prepare_dataset, prepare_summary_path
from cropland.data.prepared_file import PreparedFile, is_prepared_file
from cropland.data.published_hdf5 import PublishedFile
from cropland.errors import CroplandError
from cropland.inference.batch_prediction import predict
from cropland.inference.checkpoint_choice import checkpoint_of
from cropland.inference.model_loading import load_model, wrap_published
from cropland.io import refuse_to_replace, write_json_atomic, write_text_atomic
from cropland.season_so_far import parse_until
from cropland.training.scores import accuracy_and_macro_f1, confusion_matrix

log = logging.getLogger(__name__)


def predict_to_csv(cfg: DictConfig) -> Path:
    """Write one CSV row per sequence of ``cfg.input``; returns the CSV's path.

    Everything that can be refused is checked before the model is loaded or the input read.
    """
    output = Path(cfg.output) if cfg.output else Path(cfg.paths.output_dir) / "predictions.csv"
    source = Path(cfg.input)
    if output.is_dir():
        raise CroplandError(f"output={output} is a folder; give a file, e.g. {output}/pred.csv")
    loader_settings = _loader_settings(cfg.data)
    until = parse_until(cfg.get("until"))
    summary_file = input_summary_path(output)
    scores_file = scores_path(output)
    outputs = {"output": output, "the scores of output": scores_file}
    if not is_prepared_file(source):  # a tree or the published file: its summary goes beside
        outputs["the input summary of output"] = summary_file
    ckpt_path = checkpoint_of(cfg)
    inputs = {"input": source, "ckpt_path": ckpt_path}
    refuse_to_replace(outputs, inputs, cfg.overwrite)

    loaded = load_model(ckpt_path)
    sensors = sensors_of_channels(loaded.channels)
    with _prepared(source, sensors, cfg.progress, summary_file, cfg.overwrite) as (path, summary):
        datamodule = CropSequenceDataModule(
            path=str(path), **loader_settings, **loaded.data_settings()
        )
        prepared = datamodule.prepared_file
        _check_input(prepared, loaded.channels, cfg.input, loaded.path)
        datamodule.setup("predict")
        model = loaded.classifier
        if model is None:
            # The published recipe standardized with statistics over all the data it saw.
            mean, std = datamodule.channel_mean, datamodule.channel_std
            model = wrap_published(loaded.published_net, mean.tolist(), std.tolist())
        batches = track(
            datamodule.predict_dataloader(), description="predicting", disable=not cfg.progress
        )
        last_month = None
        if until is not None:
            years = prepared.sequences.year.tolist()
            last_month = torch.tensor([until.last_month_of(int(y)) for y in years])
        found = predict(model, batches, datamodule.to_model_input, last_month=last_month)
        if until is not None and found.dropped:
            log.info(
                "until=%s: %d sequences have no image up to then and get no row", until,
                found.dropped,
            )  # fmt: skip
        lost = _skipped_months(summary, source, sensors) if summary else {}
        true_names = _true_names(found, prepared)
        text, rows_missing_months = _csv(found, prepared, list(model.classes), lost, true_names)
        scores = _scores(found, true_names, list(model.classes))
        left_out = len(set(lost) - set(_sequence_keys(prepared)))
    write_text_atomic(output, text, overwrite=cfg.overwrite)
    if scores is not None:
        write_json_atomic(scores_file, scores, overwrite=cfg.overwrite)
        log.info(
            "Scores over the %d rows with a known label (column true): accuracy %.3f, macro F1 "
            "%.3f%s; in %s",
            scores["labelled_rows"],
            scores["acc"],
            scores["f1_macro"],
            f"; {scores['rows_of_other_classes']} rows of classes the model does not know are "
            "not scored"
            if scores["rows_of_other_classes"]
            else "",
            scores_file,
        )
    if summary is not None:
        summary = {
            **summary,
            "destination": str(output),  # not the temporary prepared file, deleted by now
            "sequences_with_skipped_months": rows_missing_months,
            "sequences_without_a_row": left_out,
        }
        write_json_atomic(summary_file, summary, overwrite=cfg.overwrite)
        _log_input_summary(summary, summary_file)
    elif prepare_summary_path(source).is_file():
        log.info(
            "input=%s is a prepared file; what its preparation skipped: %s",
            source,
            prepare_summary_path(source),
        )
    log.info("Wrote %d predictions to %s", len(found.index), output)
    return output


def _loader_settings(data: DictConfig) -> dict:
    """How ``conf/data`` says to load batches (size, workers, memory), checked before any work.
    The data itself is ``input``; its split settings do not apply: every sequence gets a row."""
    if data.path is not None:
        raise CroplandError(
            f"data.path={data.path}: predict reads input=, not data.path; give the data to "
            "predict as input=<tree folder | .hdf5 | prepared .h5>"
        )
    settings = {key: data[key] for key in LOADER_SETTINGS}
    check_loader_settings(**settings)
    return settings


def scores_path(output: Path) -> Path:
    """Where accuracy and macro F1 over the labelled rows go, when the input has labels."""
    return output.with_name(f"{output.stem}.scores.json")


def _true_names(found, source: PreparedFile) -> list[str]:
    """The known crop of each row, in the CSV's order ('' where the input has no label)."""
    labels = source.sequences.label[found.index[np.argsort(found.index)]]
    return [source.classes[label] if label != UNKNOWN_CLASS else "" for label in labels.tolist()]


def _scores(found, true: list[str], classes: list[str]) -> dict | None:
    """Accuracy and macro F1 over the rows (``true``: their crops, :func:`_true_names`) whose
    crop is known and one of the model's classes; None when the input holds no label at all."""
    if not any(true):
        return None
    predicted = found.probabilities[np.argsort(found.index)].argmax(axis=1)
    index_of = {name: i for i, name in enumerate(classes)}
    pairs = zip(true, predicted, strict=True)
    scored = [(index_of[name], p) for name, p in pairs if name in index_of]
    labelled = sum(bool(name) for name in true)
    if not scored:
        log.warning(
            "None of the %d labelled sequences is of a class the model knows (%s): no scores",
            labelled,
            ", ".join(classes),
        )
        return None
    labels, predictions = (np.array(column) for column in zip(*scored, strict=True))
    acc, f1 = accuracy_and_macro_f1(confusion_matrix(labels, predictions, len(classes)))
    return {
        "labelled_rows": len(scored),
        "rows_of_other_classes": labelled - len(scored),
        "acc": acc,
        "f1_macro": f1,
    }


def input_summary_path(output: Path) -> Path:
    """Where the preparation summary of the input goes (what was read, what was skipped)."""
    return output.with_name(f"{output.stem}.input_summary.json")


@contextlib.contextmanager
def _prepared(
    source: Path, sensors: list[str], progress: bool, summary_file: Path, overwrite: bool
) -> Iterator[tuple[Path, dict | None]]:
    """A prepared file of ``source`` and what preparing it read and skipped: ``source`` itself
    and None, or a temporary conversion (deleted afterwards) and its summary. When nothing in
    ``source`` is usable, the summary is written to ``summary_file`` and the error names it."""
    if not source.exists():
        raise CroplandError(
            f"input={source} does not exist; give a PNG tree folder, the published .hdf5 "
            "file or a file written by scripts/prepare.py"
        )
    if is_prepared_file(source):
        yield source, None
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
            # min_length=1: any number of months is a sequence to predict. Prepare's own report
            # would name the temporary file; _log_input_summary reports instead.
            summary = prepare_dataset(
                source, converted, min_length=1, progress=progress, sensors=sensors, report=False
            )
        except CroplandError as error:
            written = prepare_summary_path(converted)
            if not written.is_file():
                raise
            content = {**json.loads(written.read_text()), "destination": None}
            write_json_atomic(summary_file, content, overwrite=overwrite)
            raise CroplandError(
                f"input={source}: nothing the model can use ({', '.join(sensors)} patches of "
                f"{IMAGE_SIZE}x{IMAGE_SIZE} pixels); {_skip_reasons(content)}; see {summary_file}"
            ) from error
        yield converted, summary


def _log_input_summary(summary: dict, summary_file: Path) -> None:
    log.info(
        "input=%s: read %s in %s; %s",
        summary["source"],
        _count(summary["records"], "date"),
        _count(summary["sequences"], "sequence"),
        _skip_reasons(summary),
    )
    if summary["sequences_with_skipped_months"]:
        log.info(
            "Sequences missing months whose images were skipped: %d (see column skipped_months)",
            summary["sequences_with_skipped_months"],
        )
    if summary["sequences_without_a_row"]:
        log.info(
            "Sequences without a row, every image of theirs skipped: %d",
            summary["sequences_without_a_row"],
        )
    log.info("Input summary (every file skipped, and why): %s", summary_file)


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def _skip_reasons(summary: dict) -> str:
    """How many files were skipped, by reason, with an example of each of the commonest."""
    reasons = summary.get("skipped_by_reason", {})
    if not reasons:
        return "no file was skipped"
    first = {}
    for entry in summary.get("skipped", []):
        first.setdefault(entry["reason"], entry)
    parts = [
        f"{reason} {count} (e.g. {first[reason]['path']}: {first[reason]['detail']})"
        if reason in first
        else f"{reason} {count}"
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1])[:3]
    ]
    return f"skipped {_count(sum(reasons.values()), 'file')} by reason: " + "; ".join(parts)


SequenceKey = tuple[int, str, int]  # point, province, year: one row of the CSV


def _skipped_months(summary: dict, source: Path, sensors: Sequence[str]) -> dict[SequenceKey, set]:
    """The months of each sequence that had an image skipped (a wrong size, a missing sensor,
    ...), from the preparation summary's list of skipped files or rows."""
    published_rows = None
    lost: dict[SequenceKey, set[int]] = defaultdict(set)
    for entry in summary["skipped"]:
        if summary["source_format"] == "published_hdf5":
            if published_rows is None:
                with PublishedFile(source) as published:
                    published_rows = {row.row: row for row in published.rows}
            match = _PUBLISHED_ROW.search(entry["path"])
            row = published_rows.get(int(match["row"])) if match else None
            if row is not None:
                lost[(row.point, row.province, row.date // 100)].add(row.date % 100)
        else:
            name = parse_patch_name(Path(entry["path"]).name)
            # Files of sensors the model does not use were never needed.
            if name is not None and name.sensor in sensors:
                lost[(name.point, name.province, name.year)].add(name.month)
    return lost


# How the published file's rows are named in skip reports: <file>[row 17]/RGB
_PUBLISHED_ROW = re.compile(r"\[row (?P<row>[0-9]+)\]")


def _sequence_keys(source: PreparedFile) -> Iterator[SequenceKey]:
    sequences = source.sequences
    for point, province, year in zip(
        sequences.point, sequences.province, sequences.year, strict=True
    ):
        yield int(point), str(province), int(year)


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


def _csv(
    found,
    source: PreparedFile,
    classes: list[str],
    lost: dict[SequenceKey, set],
    true_names: list[str],
) -> tuple[str, int]:
    """The CSV's text, and how many of its rows lack months whose images were skipped;
    ``true_names`` (:func:`_true_names`) fill a ``true`` column when any is known."""
    sequences, records = source.sequences, source.records
    labelled = any(true_names)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "point",
            "province",
            "year",
            "months",
            "images",
            "skipped_months",
            *(["true"] if labelled else []),
            "predicted",
            "probability",
            *(f"p_{name}" for name in classes),
        ]
    )
    missing_months = 0
    order = np.argsort(found.index)
    for row, true in zip(order, true_names, strict=True):
        sequence = int(found.index[row])
        start, length = int(sequences.start[sequence]), int(sequences.length[sequence])
        every_month = [int(m) for m in records.month[start : start + length]]
        # The images the model saw: the first ``steps`` (fewer than all with until=).
        length = int(found.steps[row])
        months = every_month[:length]
        key = (
            int(sequences.point[sequence]),
            str(sequences.province[sequence]),
            int(sequences.year[sequence]),
        )
        skipped = sorted(lost.get(key, set()) - set(every_month))
        missing_months += bool(skipped)
        probabilities = found.probabilities[row]
        predicted = int(probabilities.argmax())
        writer.writerow(
            [
                key[0],
                key[1],
                key[2],
                " ".join(map(str, months)),
                length,
                " ".join(map(str, skipped)),
                *([true] if labelled else []),
                classes[predicted],
                f"{probabilities[predicted]:.6f}",
                *(f"{p:.6f}" for p in probabilities),
            ]
        )
    return buffer.getvalue(), missing_months
