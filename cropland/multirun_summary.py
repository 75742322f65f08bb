"""A summary at the end of every multirun: one row per job with its overrides, status, error
and scores, printed and written as ``summary.csv`` in the multirun folder.

A Hydra callback (``conf/hydra/default.yaml``). Each job leaves ``job.json`` in its own folder
when it ends, so the summary is the same whichever launcher ran the jobs (in this process,
joblib workers, SLURM): the multirun's own process gathers the folders at the end. When a job
failed, Hydra stops with an error after the others ran; the summary is then printed as the
process exits. A job folder's files are read within bounds: a damaged or hand-edited
``job.json`` or ``metrics.json`` gives a row that says what is wrong (status ``unreadable`` or
``unusable``), not a traceback.
"""

from __future__ import annotations

import atexit
import csv
import io
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from cropland.bounded_read import UnreadableFile, read_json
from cropland.io import write_json_atomic, write_text_atomic
from cropland.run_metrics import METRICS_FILE, read_run_metrics

JOB_FILE = "job.json"
SUMMARY_FILE = "summary.csv"
# A job.json holds the overrides and one line of error; a bigger one is none of ours.
MAX_JOB_FILE_BYTES = 1 << 20
# The scores a row shows, when the job's metrics.json has them.
SCORES = ("best/val/f1_macro", "val/acc", "val/f1_macro", "test/acc", "test/f1_macro")


class AtMultirunEnd(Callback):
    """Runs :meth:`at_end` once on the multirun folder when the multirun ends, also when a
    failed job made Hydra stop (then as the process exits)."""

    def __init__(self) -> None:
        self._sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._sweep_dir = Path(config.hydra.sweep.dir)
        atexit.register(self._end)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._end()

    def _end(self) -> None:
        folder, self._sweep_dir = self._sweep_dir, None  # once per multirun
        if folder is not None:
            self.at_end(folder)

    def at_end(self, sweep_dir: Path) -> None:
        raise NotImplementedError


class MultirunSummary(AtMultirunEnd):
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode.name != "MULTIRUN":
            return
        failed = job_return.status == JobStatus.FAILED
        error = job_return._return_value if failed else None
        # What a job made, when its script returns a file (map.py its map, predict.py its CSV).
        made = None if failed else job_return.return_value
        write_json_atomic(
            Path(config.hydra.runtime.output_dir) / JOB_FILE,
            {
                "job": int(config.hydra.job.num),
                "overrides": " ".join(job_return.overrides or []),
                "status": "failed" if failed else "completed",
                "error": _one_line(error) if error is not None else "",
                "result": str(made) if isinstance(made, str | Path) else "",
            },
        )

    def at_end(self, sweep_dir: Path) -> None:
        rows = summary_rows(sweep_dir)
        if not rows:
            return
        write_text_atomic(sweep_dir / SUMMARY_FILE, _csv(rows))
        console = Console(stderr=True)
        # Wide enough for the scores when stderr is not a terminal (a log file, a pipe).
        console.width = max(console.width, 140)
        console.print(_table(rows, sweep_dir), highlight=False)


def summary_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder of ``sweep_dir`` that left a ``job.json``, in job order."""
    rows = []
    for job_file in sweep_dir.glob(f"*/{JOB_FILE}"):
        row = _job_record(job_file)
        metrics_file = job_file.parent / METRICS_FILE
        # exists(), not is_file(): a FIFO or device there is named as such, never opened.
        metrics, unusable = read_run_metrics(metrics_file) if metrics_file.exists() else ({}, None)
        if unusable is not None and row["status"] != "unreadable":
            row["status"], row["error"] = "unusable", f"{metrics_file}: {unusable}"
        row.update({name: metrics.get(name) for name in SCORES})
        rows.append(row)
    return sorted(rows, key=lambda row: row["job"])


def _job_record(job_file: Path) -> dict[str, Any]:
    """The fields of a ``job.json``; those it lacks or holds as something else are defaults."""
    problem = None
    try:
        record = read_json(job_file, MAX_JOB_FILE_BYTES)
    except UnreadableFile as error:
        record, problem = {}, error.detail
    if not isinstance(record, dict):
        record, problem = {}, "not a JSON object"
    job = record.get("job")
    texts = {key: record.get(key) for key in ("overrides", "status", "error", "result")}
    fields = {
        "job": job if isinstance(job, int) and not isinstance(job, bool) else -1,
        **{key: value if isinstance(value, str) else "" for key, value in texts.items()},
    }
    if problem is not None:
        fields["status"], fields["error"] = "unreadable", f"{job_file}: {problem}"
    return fields


def _one_line(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _table(rows: list[dict[str, Any]], folder: Path) -> Table:
    failed = [row for row in rows if row["status"] == "failed"]
    damaged = [row for row in rows if row["status"] in ("unreadable", "unusable")]
    title = f"Multirun summary: {len(rows)} jobs, {len(failed)} failed"
    table = Table(
        title=title + (f", {len(damaged)} with unusable files" if damaged else ""),
        caption="\n".join(
            [f"job {row['job']}: {row['error']}" for row in failed + damaged]
            + [str(folder / SUMMARY_FILE)]
        ),
    )
    # Score columns only where some job has the score (a multirun of map.py has none).
    scored = [s for s in SCORES if any(row[s] is not None for row in rows)]
    made = any(row["result"] for row in rows)
    for column in ("job", "overrides that differ", "status", *scored, *(["result"] * made)):
        table.add_column(column)
    # The overrides every job shares say nothing about the differences: show the others.
    shared = set.intersection(*(set(row["overrides"].split()) for row in rows))
    for row in rows:
        varied = " ".join(o for o in row["overrides"].split() if o not in shared)
        scores = ["" if row[s] is None else f"{row[s]:.3f}" for s in scored]
        result = [row["result"]] if made else []
        table.add_row(str(row["job"]), varied, row["status"], *scores, *result)
    return table
