"""The benchmark table: each model's test scores per data set, split and channel set, as mean
+- standard deviation over seeds, with its size and cost, written as ``benchmark.csv`` and
``benchmark.md``.

Read from multirun folders after the jobs ended, so it works whichever launcher ran them
(``experiment=benchmark`` writes it into its own multirun folder at the end;
``scripts/benchmark_table.py`` joins several, e.g. the networks' and the forest's). A job's
identity comes from files Hydra and the scripts write into its folder: the choices of config
groups (``.hydra/hydra.yaml``), the resolved ``config.yaml`` and ``metrics.json``. These are
read as plain YAML/JSON: nothing in them is resolved, imported or run.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from cropland.errors import CroplandError
from cropland.io import write_text_atomic
from cropland.multirun_summary import JOB_FILE, AtMultirunEnd

CSV_FILE = "benchmark.csv"
MARKDOWN_FILE = "benchmark.md"
# What tells rows apart; the seeds of one row are its replicates.
ROW_KEYS = ("data", "split", "channels", "model")
# The name the forest's rows get (scripts/train_forest.py has no model group).
FOREST = "random_forest"


@dataclass
class Job:
    """One job of a multirun: finished, failed, or not ended (still running, or killed)."""

    folder: Path
    data: str
    split: str
    channels: str
    model: str
    metrics: dict[str, float] = field(default_factory=dict)
    # Whether the job ended (the multirun summary's job.json is written when a job ends).
    ended: bool = True

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in ROW_KEYS)

    @property
    def completed(self) -> bool:
        return "test/acc" in self.metrics


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
    metrics_file = folder / "metrics.json"
    metrics = _json_mapping(metrics_file) if metrics_file.is_file() else {}
    data_choice = _text(choices.get("data"))
    return Job(
        folder=folder,
        # A preset's name says which synthetic set; a prepared file is named by its file.
        data=data_choice if data_choice != "prepared" else Path(_text(data.get("path"))).stem,
        split=_text(data.get("split")),
        channels=_text(data.get("channels")),
        model=FOREST if _child(config, "forest") else _text(choices.get("model")),
        metrics={
            k: float(v)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        ended=(folder / JOB_FILE).is_file() or metrics_file.is_file(),
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
        loaded = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CroplandError(f"{path}: not readable YAML ({error.__class__.__name__})") from error
    return loaded if isinstance(loaded, dict) else {}


def _json_mapping(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CroplandError(f"{path}: not readable JSON ({error.__class__.__name__})") from error
    return loaded if isinstance(loaded, dict) else {}


def benchmark_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """One row per (data, split, channels, model): the mean and sample standard deviation over
    its completed jobs, how many ran, failed and have not ended, and the margin over the
    forest's row of the same data, split and channels when there is one."""
    groups: dict[tuple[str, ...], list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key, []).append(job)
    rows = []
    for key, members in sorted(groups.items()):
        done = [job for job in members if job.completed]
        row: dict[str, Any] = dict(zip(ROW_KEYS, key, strict=True))
        row["runs"] = len(done)
        row["failed"] = sum(1 for job in members if job.ended and not job.completed)
        row["unfinished"] = sum(1 for job in members if not job.ended)
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
    forest_acc = {
        tuple(row[k] for k in ROW_KEYS[:-1]): row["test_acc_mean"]
        for row in rows
        if row["model"] == FOREST
    }
    for row in rows:
        baseline = forest_acc.get(tuple(row[k] for k in ROW_KEYS[:-1]))
        mean = row["test_acc_mean"]
        compared = row["model"] != FOREST and baseline is not None and mean is not None
        row["acc_over_forest"] = mean - baseline if compared else None
    return rows


# A network's seconds per epoch; the forest's whole fit, its one "epoch".
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
            "multiruns of scripts/train.py or scripts/train_forest.py"
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
        "| data | split | channels | model | runs | test acc | test macro F1 | acc - forest "
        "| parameters | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = f"{row['runs']}" + "".join(
            f" ({row[state]} {state})" for state in ("failed", "unfinished") if row[state]
        )
        margin, params, seconds = (
            row["acc_over_forest"],
            row["parameters"],
            row["seconds_per_epoch"],
        )
        cells = [
            *(str(row[key]) for key in ROW_KEYS),
            runs,
            _pm(row["test_acc_mean"], row["test_acc_std"]),
            _pm(row["test_f1_macro_mean"], row["test_f1_macro_std"]),
            "" if margin is None else f"{100 * margin:+.1f} pts",
            "" if params is None else f"{params:,}",
            "" if seconds is None else f"{seconds:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        "",
        "Mean +- sample standard deviation over the runs (seeds) of each row; acc - forest: "
        "the row's mean test accuracy minus the random forest's on the same data, split and "
        "channels; s/epoch: seconds per training epoch with its validation (the forest: its "
        "whole fit).",
        "",
        "From: " + ", ".join(str(source) for source in sources),
        "",
    ]
    return "\n".join(lines + notes)


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
