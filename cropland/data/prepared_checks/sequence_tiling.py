"""Sequences that tile the records: each a run of records in date order, starting where the one
before ends, together covering every record, with the point, year and province of its records."""

from __future__ import annotations

from typing import Any

import numpy as np

from cropland.data.prepared_checks.refusal import first, refuse, refuse_first_bad, shown


def check_sequence_tiling(records: Any, sequences: Any, path: object, source: str | None) -> None:
    """Refuse ``sequences`` (a ``SequenceTable``) unless they tile ``records`` (a ``RecordTable``)
    in order, each sorted by date and agreeing with its records on point, year and province."""
    total = len(records)
    start, length = sequences.start, sequences.length
    checks = (
        ("length", length < 1, "at least 1 record"),
        ("length", length > total, f"at most the {total} records"),
        ("start", (start < 0) | (start >= total), f"a record, 0 to {total - 1}"),
    )
    for name, bad, expected in checks:
        values = getattr(sequences, name)
        refuse_first_bad(bad, path, f"/sequences/{name}", values, expected, source)
    # Values are now within the records, so the sums below cannot overflow.
    follows = np.concatenate([[0], np.cumsum(length)[:-1]]) if len(length) else length
    refuse_first_bad(
        start != follows,
        path,
        "/sequences/start",
        start,
        lambda index: (
            f"{int(follows[index])}: sequences are contiguous and in order, each "
            "starting where the one before ends"
        ),
        source,
    )
    covered = int(length.sum())
    if covered != total:
        raise refuse(
            path,
            "/sequences/length",
            f"{covered} records in all",
            f"all {total} records (only records of a kept sequence are stored)",
            source,
        )
    owner = np.repeat(np.arange(len(length)), length)
    first_of_sequence = np.zeros(total, dtype=bool)
    first_of_sequence[start] = True
    unsorted = np.flatnonzero((np.diff(records.date) < 0) & ~first_of_sequence[1:]) + 1
    if len(unsorted):
        index = int(owner[unsorted[0]])
        raise refuse(
            path,
            f"/records/date[{int(start[index])}:{int(start[index] + length[index])}]",
            "not sorted",
            f"the records of sequence {index} sorted by date",
            source,
        )
    for column, of_record in (
        ("point", records.point),
        ("year", records.date // 100),
        ("province", records.province),
    ):
        bad = getattr(sequences, column)[owner] != of_record
        if bad.any():
            record = first(bad)
            index = int(owner[record])
            raise refuse(
                path,
                f"/sequences/{column}[{index}]",
                shown(getattr(sequences, column)[index]),
                f"{shown(of_record[record])}, that of its record {record}",
                source,
            )
