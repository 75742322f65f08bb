"""The benchmark table: each model's test scores per data set, split and channel set, as mean
+- standard deviation over seeds, with its size and cost, written as ``benchmark.csv`` and
``benchmark.md``.

Read from multirun folders after the jobs ended, so it works whichever launcher ran them
(``experiment=benchmark`` writes it into its own multirun folder at the end;
``scripts/benchmark_table.py`` joins several, e.g. the networks' and the baselines'). A job's
identity comes from files Hydra and the scripts write into its folder: the choices of config
groups (``.hydra/hydra.yaml``), the resolved ``config.yaml`` and ``metrics.json``. These are
read as plain YAML/JSON, each within bounds: nothing in them is resolved, imported or run. A
job whose ``metrics.json`` cannot be used (not JSON, too large, a score that is not a number
from 0 to 1, ``NaN``, a count of thousands of digits: see :mod:`cropland.run_metrics`) is
counted in its row as unusable, with why in the row's ``unusable_notes``, and is in no mean.

Each margin over the best baseline comes with a paired bootstrap interval, from the jobs'
``test_predictions.csv``: the test split is the same for every seed of one data set and split,
so the runs are scored on the same resampled sequences. A row gets no interval (an empty cell)
when a job lacks the file, a file is unusable, or the jobs' test sets differ: never a wrong one.
"""

from __future__ import annotations

import csv
import io
import logging
import statistics
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console

from cropland.bounded_read import UnreadableFile, read_regular_file
from cropland.errors import CroplandError
from cropland.evaluation.bootstrap import paired_difference_intervals
from cropland.io import write_text_atomic
from cropland.multirun_summary import JOB_FILE, AtMultirunEnd
from cropland.run_metrics import METRICS_FILE, read_run_metrics
from cropland.training.test_predictions import TEST_PREDICTION_COLUMNS, TEST_PREDICTIONS_FILE

log = logging.getLogger(__name__)

CSV_FILE = "benchmark.csv"
MARKDOWN_FILE = "benchmark.md"
# What tells rows apart; the seeds of one row are its replicates.
ROW_KEYS = ("data", "split", "channels", "model")
# The name of the random forest's rows in runs of the retired scripts/train_forest.py, whose
# config has a ``forest`` section instead of scripts/train_baseline.py's ``baseline``.
FOREST = "random_forest"
# The paired bootstrap of the margins: resamples of the test sequences, level and seed.
RESAMPLES = 2000
LEVEL = 0.95
BOOTSTRAP_SEED = 0
# What a test_predictions.csv may hold, whatever a hand-edited or foreign file holds: more
# sequences than a test split of ours, more classes than a crop legend. Past them, no interval.
MAX_PREDICTION_ROWS = 1_000_000
MAX_PREDICTION_BYTES = 64 * MAX_PREDICTION_ROWS
MAX_CLASSES = 1000
# A job's Hydra records and config hold a few hundred lines; a bigger file is none of ours.
MAX_RECORD_BYTES = 4 << 20


@dataclass
class Job:
    """One job of a multirun: finished, failed, or not ended (still running, or killed)."""

    folder: Path
    data: str
    split: str
    channels: str
    model: str
    metrics: dict[str, float] = field(default_factory=dict)
    # A non-deep baseline's job (scripts/train_baseline.py), whose best row is the one to beat.
    baseline: bool = False
    # Whether the job ended (the multirun summary's job.json is written when a job ends).
    ended: bool = True
    # Why its metrics.json cannot be used, if it cannot: then it is neither a run nor a failure.
    unusable: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in ROW_KEYS)

    @property
    def completed(self) -> bool:
        return self.unusable is None and "test/acc" in self.metrics

    @property
    def failed(self) -> bool:
        return self.ended and self.unusable is None and not self.completed


def read_jobs(multirun: Path) -> list[Job]:
    """The jobs of one multirun folder (its subfolders that hold a ``.hydra`` record)."""
    if not multirun.is_dir():
        raise CroplandError(f"{multirun}: not a folder; expected a multirun folder")
    jobs = [_read_job(record) for record in sorted(multirun.glob("*/.hydra/hydra.yaml"))]
    return [job for job in jobs if job is not None]


def _read_job(hydra_file: Path) -> Job | None:
    folder = hydra_file.parent.parent
    choices = _child(_child(_child(_yaml_mapping(hydra_file), "hydra"), "runtime"), "choices")
    config = _yaml_mapping(folder / "config.yaml")  # absent when a job failed before writing it
    if not config:
        config = _yaml_mapping(folder / ".hydra" / "config.yaml")
    data = _child(config, "data")
    if not data:
        return None  # not a training job
    metrics_file = folder / METRICS_FILE
    # exists(), not is_file(): a FIFO or device there is named as such, never opened.
    metrics, unusable = read_run_metrics(metrics_file) if metrics_file.exists() else ({}, None)
    if unusable is not None:
        log.warning("%s: %s; the job is counted as unusable, in no mean", metrics_file, unusable)
    data_choice = _text(choices.get("data"))
    if data_choice == "prepared":
        data_choice = Path(_text(data.get("path"))).stem
    draw = _child(data, "synthetic").get("draw")
    if draw is not None:  # every drawn generator is a data set of its own
        data_choice = f"{data_choice}_{_text(draw)}"
    baseline = _child(config, "baseline")
    if baseline:
        model = _text(baseline.get("name"))
    elif _child(config, "forest"):
        model = FOREST
    else:
        model = _text(choices.get("model"))
    return Job(
        folder=folder,
        # A preset's name says which synthetic set; a prepared file is named by its file.
        data=data_choice,
        split=_text(data.get("split")),
        channels=_text(data.get("channels")),
        model=model,
        metrics=metrics,
        baseline=bool(baseline) or bool(_child(config, "forest")),
        ended=(folder / JOB_FILE).is_file() or metrics_file.exists(),
        unusable=unusable,
    )


def _text(value: Any) -> str:
    """A name from a job's files; "?" for a missing or non-scalar one (never a structure's
    text, which a file of nested YAML aliases could make enormous)."""
    return str(value) if isinstance(value, str | int | float) else "?"


def _child(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    """``mapping[key]`` when it is a mapping; {} for anything else a hand-edited file holds."""
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def _yaml_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(read_regular_file(path, MAX_RECORD_BYTES).decode("utf-8"))
    except UnreadableFile as error:
        raise CroplandError(f"{path}: {error.detail}; expected a job's YAML record") from error
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        raise CroplandError(f"{path}: not readable YAML ({error.__class__.__name__})") from error
    return loaded if isinstance(loaded, dict) else {}


def benchmark_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """One row per (data, split, channels, model): the mean and sample standard deviation over
    its completed jobs, how many ran, failed, have not ended and left an unusable metrics.json
    (and why, in ``unusable_notes``), and the margins over the best
    baseline of the same data, split and channels (the baseline row with the highest mean test
    accuracy) when there is one, each with its paired bootstrap interval where the jobs' test
    predictions allow one."""
    groups: dict[tuple[str, ...], list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key, []).append(job)
    baselines = {key for key, members in groups.items() if any(job.baseline for job in members)}
    rows = []
    completed: dict[tuple[str, ...], list[Job]] = {}
    for key, members in sorted(groups.items()):
        done = completed[key] = [job for job in members if job.completed]
        row: dict[str, Any] = dict(zip(ROW_KEYS, key, strict=True))
        row["runs"] = len(done)
        row["failed"] = sum(1 for job in members if job.failed)
        row["unfinished"] = sum(1 for job in members if not job.ended)
        row["unusable"] = sum(1 for job in members if job.unusable is not None)
        for metric in ("test/acc", "test/f1_macro"):
            name = metric.replace("/", "_")
            row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(
                [job.metrics[metric] for job in done if metric in job.metrics]
            )
        row["parameters"] = _first(done, "model/parameters")
        row["seconds_per_epoch"] = _mean_std(
            [job.metrics[m] for job in done for m in _SECONDS if m in job.metrics]
        )[0]
        rows.append(row)
    best: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        setting = tuple(row[k] for k in ROW_KEYS[:-1])
        if tuple(row[k] for k in ROW_KEYS) not in baselines or row["test_acc_mean"] is None:
            continue
        if setting not in best or row["test_acc_mean"] > best[setting]["test_acc_mean"]:
            best[setting] = row
    predictions = _PredictionFiles()
    for row in rows:
        to_beat = best.get(tuple(row[k] for k in ROW_KEYS[:-1]))
        compared = to_beat is not None and to_beat is not row
        row["best_baseline"] = to_beat["model"] if to_beat is not None else None
        intervals = (
            predictions.margin_intervals(
                completed[tuple(row[k] for k in ROW_KEYS)],
                completed[tuple(to_beat[k] for k in ROW_KEYS)],
            )
            if compared
            else {}
        )
        for metric in ("acc", "f1_macro"):
            mean = row[f"test_{metric}_mean"]
            margin = (
                mean - to_beat[f"test_{metric}_mean"]
                if compared and mean is not None and to_beat[f"test_{metric}_mean"] is not None
                else None
            )
            low, high = intervals.get(metric, (None, None)) if margin is not None else (None, None)
            row[f"{metric}_over_best_baseline"] = margin
            row[f"{metric}_over_best_baseline_low"] = low
            row[f"{metric}_over_best_baseline_high"] = high
        row["unusable_notes"] = "; ".join(
            f"{job.folder / METRICS_FILE}: {job.unusable}"
            for job in groups[tuple(row[k] for k in ROW_KEYS)]
            if job.unusable is not None
        )
    predictions.report_missing()
    return rows


@dataclass(frozen=True)
class _TestPredictions:
    """One job's test predictions, ordered by sequence identity (index in file, point)."""

    identity: np.ndarray  # (sequences, 2)
    label: np.ndarray
    predicted: np.ndarray


class _PredictionFiles:
    """The jobs' ``test_predictions.csv``, each read once; an unusable one is named in one
    warning, the jobs without one are counted in one line at the end."""

    def __init__(self) -> None:
        self._read: dict[Path, _TestPredictions | None] = {}
        self._missing: set[Path] = set()

    def margin_intervals(
        self, jobs: list[Job], baseline_jobs: list[Job]
    ) -> dict[str, tuple[float, float]]:
        """Paired bootstrap intervals of the mean accuracy (and macro F1) over ``jobs`` minus
        the mean over ``baseline_jobs``, from the same resamples of their shared test set; {}
        when any job's predictions are missing or unusable, or their test sets differ."""
        if not jobs or not baseline_jobs:
            return {}
        read = [self._predictions(job) for job in [*jobs, *baseline_jobs]]
        if any(predictions is None for predictions in read):
            return {}
        first = read[0]
        for job, other in zip([*jobs, *baseline_jobs][1:], read[1:], strict=True):
            if not (
                np.array_equal(first.identity, other.identity)
                and np.array_equal(first.label, other.label)
            ):
                log.warning(
                    "%s and %s were tested on different sequences or labels: no interval for "
                    "%s against %s",
                    jobs[0].folder,
                    job.folder,
                    jobs[0].model,
                    baseline_jobs[0].model,
                )
                return {}
        # Classes in no run's truth or predictions count in no score: numbering the ones that
        # occur keeps the confusion matrices as small as the data allows.
        found = np.stack([first.label, *(predictions.predicted for predictions in read)])
        classes, numbered = np.unique(found, return_inverse=True)
        numbered = numbered.reshape(found.shape)
        intervals = paired_difference_intervals(
            numbered[0],
            numbered[1 : len(jobs) + 1],
            numbered[len(jobs) + 1 :],
            len(classes),
            resamples=RESAMPLES,
            level=LEVEL,
            seed=BOOTSTRAP_SEED,
        )
        # A margin averages the jobs that have the score; so must its interval.
        every_f1 = all("test/f1_macro" in job.metrics for job in [*jobs, *baseline_jobs])
        return intervals if every_f1 else {"acc": intervals["acc"]}

    def report_missing(self) -> None:
        if self._missing:
            log.info(
                "%d job(s) without %s (runs of before it was written, or of several "
                "processes): no interval for their rows, e.g. %s",
                len(self._missing),
                TEST_PREDICTIONS_FILE,
                min(self._missing),
            )

    def _predictions(self, job: Job) -> _TestPredictions | None:
        if job.folder not in self._read:
            path = job.folder / TEST_PREDICTIONS_FILE
            if not path.is_file():
                self._missing.add(path)
                self._read[job.folder] = None
            else:
                predictions = _read_test_predictions(path)
                if isinstance(predictions, str):
                    log.warning("%s: %s; no interval for its row", path, predictions)
                    predictions = None
                elif (problem := _disagreement(predictions, job.metrics)) is not None:
                    log.warning("%s: %s; no interval for its row", path, problem)
                    predictions = None
                self._read[job.folder] = predictions
        return self._read[job.folder]


def _read_test_predictions(path: Path) -> _TestPredictions | str:
    """The predictions in ``path``, or what is wrong with the file. Read within bounds: its
    size is checked before it is read, and never more than the allowed rows are parsed."""
    if path.stat().st_size > MAX_PREDICTION_BYTES:
        return f"larger than {MAX_PREDICTION_BYTES:,} bytes"
    header = ",".join(TEST_PREDICTION_COLUMNS)
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline(len(header) + 2).strip()
            if first != header:
                return f"the first line is not {header!r}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy's warning for a file of no rows
                table = np.loadtxt(
                    handle,
                    delimiter=",",
                    dtype=np.int64,
                    ndmin=2,
                    comments=None,
                    max_rows=MAX_PREDICTION_ROWS + 1,
                )
    except UnicodeDecodeError:
        return "not text"
    except (ValueError, OverflowError):
        return f"expected whole numbers in its {len(TEST_PREDICTION_COLUMNS)} columns"
    if not len(table):
        return "no sequences"
    if len(table) > MAX_PREDICTION_ROWS:
        return f"more than {MAX_PREDICTION_ROWS:,} sequences"
    if table.shape[1] != len(TEST_PREDICTION_COLUMNS):
        return f"expected {len(TEST_PREDICTION_COLUMNS)} columns, found {table.shape[1]}"
    classes = table[:, 2:]
    if classes.min() < 0 or classes.max() >= MAX_CLASSES:
        return f"a label or prediction outside the class indices 0 to {MAX_CLASSES - 1}"
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    identity = table[:, :2]
    if (identity[1:] == identity[:-1]).all(axis=1).any():
        return "a sequence listed twice"
    return _TestPredictions(identity=identity, label=table[:, 2], predicted=table[:, 3])


def _disagreement(predictions: _TestPredictions, metrics: dict[str, float]) -> str | None:
    """Why the predictions are not those the job scored (another test set, a stale or edited
    file), or None. Accuracy is a count over the sequences: half a sequence tells them apart."""
    count = len(predictions.label)
    if "test/sequences" in metrics and metrics["test/sequences"] != count:
        return f"{count} sequences, but metrics.json scored {metrics['test/sequences']:g}"
    correct = int((predictions.label == predictions.predicted).sum())
    if abs(correct - metrics["test/acc"] * count) >= 0.5:
        return f"accuracy {correct / count:.4f}, but metrics.json says {metrics['test/acc']:.4f}"
    return None


# A network's seconds per epoch; a baseline's whole fit, its one "epoch".
_SECONDS = ("time/seconds_per_epoch", "time/seconds_to_fit")


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _first(jobs: list[Job], metric: str) -> int | None:
    return next((int(job.metrics[metric]) for job in jobs if metric in job.metrics), None)


def write_benchmark(rows: list[dict[str, Any]], folder: Path, sources: list[Path]) -> str:
    """Write ``benchmark.csv`` and ``benchmark.md`` into ``folder``; returns the markdown."""
    if not rows:
        raise CroplandError(
            f"no training jobs in {', '.join(map(str, sources))}: expected the folders of "
            "multiruns of scripts/train.py or scripts/train_baseline.py"
        )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(folder / CSV_FILE, buffer.getvalue())
    markdown = markdown_table(rows, sources)
    write_text_atomic(folder / MARKDOWN_FILE, markdown)
    return markdown


def markdown_table(rows: list[dict[str, Any]], sources: list[Path]) -> str:
    lines = [
        "| data | split | channels | model | runs | test acc | test macro F1 "
        "| acc - best baseline | F1 - best baseline | parameters | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = f"{row['runs']}" + "".join(
            f" ({row[state]} {state})"
            for state in ("failed", "unfinished", "unusable")
            if row[state]
        )
        params, seconds = row["parameters"], row["seconds_per_epoch"]
        is_best = row["best_baseline"] == row["model"]
        cells = [
            *(str(row[key]) for key in ROW_KEYS),
            runs,
            _pm(row["test_acc_mean"], row["test_acc_std"]),
            _pm(row["test_f1_macro_mean"], row["test_f1_macro_std"]),
            "row to beat" if is_best else _points(row, "acc"),
            _points(row, "f1_macro"),
            "" if params is None else f"{params:,}",
            "" if seconds is None else f"{seconds:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        "Mean +- sample standard deviation over the runs (seeds) of each row; acc - best "
        "baseline: the row's mean test accuracy minus that of the best baseline on the same "
        "data, split and channels (of the non-deep baselines, e.g. random_forest and "
        "gradient_boosting, the one with the highest mean test accuracy: the row to beat); "
        "F1 - best baseline: the same for macro F1, against that baseline; s/epoch: seconds "
        "per training epoch with its validation (a baseline: its whole fit). [low, high]: "
        f"{100 * LEVEL:g}% paired bootstrap interval of the margin ({RESAMPLES} resamples of "
        "the test sequences, every run of both rows scored on the same ones); none where a "
        f"job has no usable {TEST_PREDICTIONS_FILE} or the jobs' test sets differ.",
        "",
        "From: " + ", ".join(str(source) for source in sources),
        "",
    ]
    unusable = [row["unusable_notes"] for row in rows if row["unusable_notes"]]
    if unusable:
        notes += ["Jobs counted as unusable (in no mean):", "", *(f"- {n}" for n in unusable), ""]
    return "\n".join(lines + notes)


def _points(row: dict[str, Any], metric: str) -> str:
    """``+5.0 [+1.2, +8.9] pts``: the row's margin in points, with its interval if it has one."""
    margin = row[f"{metric}_over_best_baseline"]
    if margin is None:
        return ""
    low, high = row[f"{metric}_over_best_baseline_low"], row[f"{metric}_over_best_baseline_high"]
    interval = "" if low is None else f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    return f"{100 * margin:+.1f}{interval} pts"


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return ""
    return f"{mean:.3f}" + ("" if std is None else f" +- {std:.3f}")


def benchmark_from(multiruns: list[Path], folder: Path) -> None:
    """Read the jobs of ``multiruns``, write the table into ``folder`` and print it."""
    jobs = [job for multirun in multiruns for job in read_jobs(multirun)]
    markdown = write_benchmark(benchmark_rows(jobs), folder, multiruns)
    console = Console(stderr=True)
    console.width = max(console.width, 160)  # a log file or pipe still gets whole rows
    console.print(markdown, highlight=False, markup=False)
    console.print(f"Benchmark: {folder / MARKDOWN_FILE} and {folder / CSV_FILE}", highlight=False)


class BenchmarkTable(AtMultirunEnd):
    """At the end of a multirun (``experiment=benchmark``): its table, in its folder."""

    def at_end(self, sweep_dir: Path) -> None:
        benchmark_from([sweep_dir], sweep_dir)
