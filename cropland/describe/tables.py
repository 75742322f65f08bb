"""Counts from a prepared file's record and sequence tables: splits, classes, lengths, months."""

from __future__ import annotations

from collections import Counter

import numpy as np

from cropland.data.layout import MONTHS, UNKNOWN_CLASS
from cropland.data.prepared_file import RecordTable, SequenceTable
from cropland.data.splits import NO_SPLIT, SPLIT_NAMES

# Sequence groups in the order of their index (split ids 0, 1, 2, then the unknown label).
GROUPS: tuple[str, ...] = (*SPLIT_NAMES, "unknown_label")


def group_indices(split_ids: np.ndarray) -> np.ndarray:
    """Index into ``GROUPS`` of each sequence: its split, or the last group when unlabelled."""
    return np.where(split_ids == NO_SPLIT, len(GROUPS) - 1, split_ids)


def class_counts(
    labels: np.ndarray, split_ids: np.ndarray, classes: list[str]
) -> dict[str, dict[str, int]]:
    """Sequences of each class in each split: ``{"train": {"BARLEY": 12, ...}, ...}``."""
    counts = {}
    for split_id, name in enumerate(SPLIT_NAMES):
        per_class = np.bincount(labels[split_ids == split_id], minlength=len(classes))
        counts[name] = {c: int(n) for c, n in zip(classes, per_class, strict=True)}
    return counts


def unknown_label_crops(sequences: SequenceTable, records: RecordTable) -> dict[str, int]:
    """Sequences whose crop is not a known class, by the crop name their files carry."""
    unknown = sequences.label == UNKNOWN_CLASS
    crops = records.crop[sequences.start[unknown]]
    return dict(sorted(Counter(crops.tolist()).items()))


def length_counts(lengths: np.ndarray, split_ids: np.ndarray) -> dict[str, dict[int, int]]:
    """Sequences of each length (number of dates), over all sequences and per group."""
    groups = group_indices(split_ids)
    counts = {"all": _value_counts(lengths)}
    for index, name in enumerate(GROUPS):
        counts[name] = _value_counts(lengths[groups == index])
    return counts


def _value_counts(values: np.ndarray) -> dict[int, int]:
    unique, counts = np.unique(values, return_counts=True)
    return {int(v): int(n) for v, n in zip(unique, counts, strict=True)}


def sequence_month_sets(records: RecordTable, sequences: SequenceTable) -> list[tuple[int, ...]]:
    """The months (1-12) each sequence has an image in, sorted."""
    months = records.month
    return [
        tuple(sorted(set(months[start : start + length].tolist())))
        for start, length in zip(sequences.start, sequences.length, strict=True)
    ]


def month_presence(month_sets: list[tuple[int, ...]]) -> dict[int, int]:
    """Sequences with an image in each month: the season's months always, others if present."""
    counts = Counter(month for months in month_sets for month in months)
    return {month: counts.get(month, 0) for month in sorted(set(MONTHS) | set(counts))}


def common_month_sets(month_sets: list[tuple[int, ...]], top: int = 10) -> list[dict]:
    """The ``top`` most common month sets, most common first, with their share of sequences."""
    total = max(len(month_sets), 1)
    return [
        {"months": list(months), "sequences": count, "share": count / total}
        for months, count in Counter(month_sets).most_common(top)
    ]
