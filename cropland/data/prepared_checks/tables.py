"""The values of a prepared file's tables, once read: dates, sequences that tile the records,
labels in the class range, and text short and printable."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from cropland.data.class_names import MAX_CLASS_NAME_LENGTH
from cropland.data.layout import UNKNOWN_CLASS
from cropland.data.prepared_checks.refusal import refuse, refuse_first_bad
from cropland.data.prepared_checks.sequence_tiling import check_sequence_tiling

# Dates are YYYYMM (the patch file names' field): a four-digit year.
YEARS = (1000, 9999)


def check_tables(
    records: Any, sequences: Any, classes: list[str], path: object, source: str | None
) -> None:
    """Check the values of the tables read from the file (``RecordTable`` and
    ``SequenceTable``): dates, sequences that tile the records in order, labels, text."""
    _check_dates(records.date, path, source)
    check_sequence_tiling(records, sequences, path, source)
    _check_labels(sequences.label, len(classes), path, source)
    for group, table in (("records", records), ("sequences", sequences)):
        for field in fields(table):
            values = getattr(table, field.name)
            if values.dtype == object:  # a string column
                _check_text(values, f"/{group}/{field.name}", path, source)


def _check_dates(date: np.ndarray, path: object, source: str | None) -> None:
    month, year = date % 100, date // 100
    bad = (month < 1) | (month > 12) | (year < YEARS[0]) | (year > YEARS[1])
    expected = f"a date YYYYMM with a month 01 to 12 and a year {YEARS[0]} to {YEARS[1]}"
    refuse_first_bad(bad, path, "/records/date", date, expected, source)


def _check_labels(label: np.ndarray, classes: int, path: object, source: str | None) -> None:
    bad = ((label < 0) | (label >= classes)) & (label != UNKNOWN_CLASS)
    expected = (
        f"a class index 0 to {classes - 1} (attribute 'classes') or {UNKNOWN_CLASS} for an "
        "unknown crop"
    )
    refuse_first_bad(bad, path, "/sequences/label", label, expected, source)


def _check_text(values: np.ndarray, where: str, path: object, source: str | None) -> None:
    """Names that end up in CSV cells, messages and figures: short and printable."""
    for value in set(values.tolist()):
        if not value or len(value) > MAX_CLASS_NAME_LENGTH or not value.isprintable():
            raise refuse(
                path,
                where,
                f"holding {value[:MAX_CLASS_NAME_LENGTH]!r}",
                f"printable names of 1 to {MAX_CLASS_NAME_LENGTH} characters",
                source,
            )
