"""Job folders whose metrics.json (or job.json) someone made to hurt the tables that gather
runs: NaN, Infinity, 1e308, integers of thousands of digits, scores out of [0, 1], text that
is not JSON, a file too large, a FIFO. The benchmark table and the multirun summary must count
such a job as unusable and say why, never give a traceback or a nonsense mean."""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cropland.multirun_summary import MAX_JOB_FILE_BYTES, MultirunSummary, summary_rows
from cropland.run_metrics import MAX_METRICS_BYTES, read_run_metrics
from tests.script_runs import PROJECT_ROOT

MEMORY_LIMIT = 3 << 30  # far above what the table needs, far below a runaway read
GOOD = {"test/acc": 0.5, "test/f1_macro": 0.4, "model/parameters": 1234}

# Case -> (metrics.json's text, what the note says).
HOSTILE = {
    "nan": ('{"test/acc": NaN, "test/f1_macro": 0.4}', "test/acc is nan, expected a number"),
    "infinity": ('{"test/acc": 0.5, "test/f1_macro": Infinity}', "test/f1_macro is inf"),
    "minus_infinity": ('{"test/acc": -Infinity}', "test/acc is -inf"),
    "huge_float": ('{"test/acc": 1e308, "test/f1_macro": 1e308}', "test/acc is 1e+308"),
    "exponent_overflow": ('{"test/acc": 1e999}', "test/acc is inf"),
    "acc_above_one": ('{"test/acc": 7, "test/f1_macro": 0.4}', "test/acc is 7, expected"),
    "f1_below_zero": ('{"test/acc": 0.5, "test/f1_macro": -0.1}', "test/f1_macro is -0.1"),
    "score_as_text": ('{"test/acc": "0.5"}', "test/acc is '0.5'"),
    "score_as_bool": ('{"test/acc": true}', "test/acc is True"),
    "score_as_list": ('{"test/acc": [0.5]}', "test/acc is a list"),
    "int_of_5000_digits": (
        '{"test/acc": 0.5, "model/parameters": ' + "9" * 5000 + "}",
        "an integer of 5000 digits",
    ),
    "parameters_not_whole": ('{"test/acc": 0.5, "model/parameters": 1.5}', "model/parameters"),
    "seconds_huge": ('{"test/acc": 0.5, "time/seconds_per_epoch": 1e308}', "seconds"),
    "not_json": ('{"test/acc": 0.5,', "not JSON"),
    "not_an_object": ("[0.5, 0.4]", "holds a JSON list, expected an object"),
    "nested_deep": ("[" * 200_000 + "]" * 200_000, "not JSON"),
    "too_large": ('{"test/acc": 0.5}' + " " * MAX_METRICS_BYTES, "over the 1048576 bytes"),
    "not_utf8": (b'{"test/acc": 0.5, "x": "\xff"}', "not UTF-8"),
}


def _job(sweep: Path, number: int, channels: str, metrics: str | bytes | None = None) -> Path:
    """A finished training job of ``channels`` (its row); ``metrics``: metrics.json's content."""
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n  runtime:\n    choices:\n      data: synthetic\n      model: tae\n"
    )
    (job / "config.yaml").write_text(
        f"seed: {number}\ndata:\n  split: stratified\n  channels: {channels}\n"
    )
    content = json.dumps(GOOD) if metrics is None else metrics
    path = job / "metrics.json"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (job / "job.json").write_text(
        json.dumps({"job": number, "overrides": f"seed={number}", "status": "completed"})
    )
    return job


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], str, str]:
    """scripts/benchmark_table.py over one sweep: per case, a good job and a hostile one in one
    row (plus a FIFO for metrics.json), run in a process with bounded memory and time."""
    tmp = tmp_path_factory.mktemp("hostile_benchmark")
    sweep = tmp / "sweep"
    number = 0
    for case, (text, _) in HOSTILE.items():
        _job(sweep, number, case)
        _job(sweep, number + 1, case, text)
        number += 2
    _job(sweep, number, "fifo")
    fifo = _job(sweep, number + 1, "fifo") / "metrics.json"
    fifo.unlink()
    os.mkfifo(fifo)
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "benchmark_table.py"),
            f"multiruns=[{sweep}]",
            f"paths.log_dir={tmp / 'logs'}",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    (folder,) = (tmp / "logs" / "benchmark_table" / "runs").iterdir()
    rows = {row["channels"]: row for row in csv.DictReader((folder / "benchmark.csv").open())}
    return rows, (folder / "benchmark.md").read_text(), output


@pytest.mark.parametrize(("case", "note"), [(c, n) for c, (_, n) in HOSTILE.items()])
def test_a_hostile_metrics_file_makes_its_job_unusable_with_a_note(
    table: tuple[dict[str, dict], str, str], case: str, note: str
) -> None:
    rows, markdown, output = table
    row = rows[case]
    # The good job alone is in the means; the other is neither a run nor a failure.
    assert (row["runs"], row["failed"], row["unusable"]) == ("1", "0", "1")
    assert (float(row["test_acc_mean"]), row["test_acc_std"]) == (0.5, "")
    assert row["parameters"] == "1234"
    assert note in row["unusable_notes"]
    assert "metrics.json: " in row["unusable_notes"]
    assert f"| {case} | tae | 1 (1 unusable) | 0.500 |" in markdown
    assert note in markdown and note in output
    assert len(row["unusable_notes"]) < 300  # a note, never the file's content


def test_a_fifo_as_metrics_file_is_named_and_never_opened(
    table: tuple[dict[str, dict], str, str],
) -> None:
    rows, _, _ = table
    assert rows["fifo"]["unusable"] == "1"
    assert "a FIFO (named pipe); only regular files are read" in rows["fifo"]["unusable_notes"]


def test_the_checked_values_of_a_good_file_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({**GOOD, "test/loss": float("nan"), "model/name": "x"}))
    # NaN in a value no table uses (a loss) does not make the file unusable.
    assert read_run_metrics(path) == (
        {"test/acc": 0.5, "test/f1_macro": 0.4, "model/parameters": 1234.0},
        None,
    )


COMPLETED = '{"job": 1, "overrides": "seed=1", "status": "completed"}'


@pytest.mark.parametrize(
    ("job_json", "metrics", "status", "acc", "note"),
    [
        (COMPLETED, '{"test/acc": NaN}', "unusable", None, "test/acc is nan"),
        (COMPLETED, '{"test/acc": ' + "9" * 5000 + "}", "unusable", None, "5000 digits"),
        (COMPLETED, "[" * 200_000, "unusable", None, "not JSON"),
        ("{not json", None, "unreadable", 0.5, "not JSON"),
        ('{"job": "' + "x" * MAX_JOB_FILE_BYTES + '"}', None, "unreadable", 0.5, "over the"),
        ('{"job": ' + "1" * 5000 + "}", None, "unreadable", 0.5, "5000 digits"),
        ('{"job": [1], "overrides": 3, "status": null}', None, "", 0.5, ""),
    ],
    ids=[
        "metrics-nan",
        "metrics-long-int",
        "metrics-nested",
        "job-not-json",
        "job-too-large",
        "job-long-int",
        "job-odd-types",
    ],
)
def test_the_multirun_summary_shows_a_damaged_job_as_a_row(
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    job_json: str,
    metrics: str | None,
    status: str,
    acc: float | None,
    note: str,
) -> None:
    sweep = tmp_path / "sweep"
    _job(sweep, 0, "rgb")
    damaged = _job(sweep, 1, "rgb", metrics)
    (damaged / "job.json").write_text(job_json)

    MultirunSummary().at_end(sweep)

    good, bad = sorted(summary_rows(sweep), key=lambda row: row["job"] != 0)
    assert (good["job"], good["status"], good["test/acc"]) == (0, "completed", 0.5)
    assert (bad["status"], bad["test/acc"]) == (status, acc)
    assert note in bad["error"] and len(bad["error"]) < 300
    printed = capsys.readouterr().err
    assert "Multirun summary: 2 jobs" in printed and "Traceback" not in printed
    assert (sweep / "summary.csv").is_file()
