"""A run's ``metrics.json`` read back by the tables that gather runs (the multirun summary, the
benchmark table): bounded, and each value a table uses checked.

The file is a job folder's, so it may be hand-edited, foreign or damaged: ``NaN``, ``Infinity``,
``1e308``, an accuracy of 7 or an integer of thousands of digits would otherwise become a
traceback or a nonsense mean. :func:`read_run_metrics` returns the checked values, or why the
file is unusable; callers count such a job as unusable and say why, instead of averaging it.
"""

from __future__ import annotations

import math
import os

from cropland.bounded_read import UnreadableFile, read_json

METRICS_FILE = "metrics.json"
# A run's metrics.json holds a few dozen numbers; a megabyte is far above any of ours, and a
# bigger file is no record of a run (reading it would only cost memory).
MAX_METRICS_BYTES = 1 << 20

# What the values the tables use may be, by kind. Scores are fractions; counts are whole numbers
# (a trillion parameters or sequences is past any run of ours); seconds are those of a run that
# ended (a billion seconds is decades).
MAX_COUNT = 10**12
MAX_SECONDS = 1e9
SCORES = (
    "test/acc",
    "test/f1_macro",
    "val/acc",
    "val/f1_macro",
    "best/val/acc",
    "best/val/f1_macro",
)
COUNTS = ("model/parameters", "test/sequences")
SECONDS = ("time/seconds_per_epoch", "time/seconds_to_fit")


def read_run_metrics(path: str | os.PathLike) -> tuple[dict[str, float], str | None]:
    """``(metrics, None)``: the scores, counts and seconds of ``path`` (other keys are no table's
    and left out); or ``({}, problem)``: why the file cannot be used, in words, naming the key.
    """
    try:
        loaded = read_json(path, MAX_METRICS_BYTES)
    except UnreadableFile as error:
        return {}, error.detail
    if not isinstance(loaded, dict):
        return {}, f"holds a JSON {type(loaded).__name__}, expected an object of metrics"
    metrics = {}
    for key, value in loaded.items():
        expected = _expected(key)
        if expected is None:
            continue
        if not _is_valid(key, value):
            return {}, f"{key} is {_shown(value)}, expected {expected}"
        metrics[key] = float(value)
    return metrics, None


def _expected(key: str) -> str | None:
    """What ``key``'s value must be, in words; None for a key no table uses."""
    if key in SCORES:
        return "a number from 0 to 1"
    if key in COUNTS:
        return f"a whole number from 0 to {MAX_COUNT:.0e}"
    if key in SECONDS:
        return f"a number of seconds from 0 to {MAX_SECONDS:.0e}"
    return None


def _is_valid(key: str, value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value):
        return False
    if key in SCORES:
        return 0 <= value <= 1
    if key in COUNTS:
        return 0 <= value <= MAX_COUNT and float(value).is_integer()
    return 0 <= value <= MAX_SECONDS


def _shown(value: object) -> str:
    """A value as the message shows it: short whatever the file holds."""
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
