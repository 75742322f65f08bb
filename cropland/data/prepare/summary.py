"""The summary of a preparation: counts per class and split folder, and every skip and notice.

It is written beside the prepared file as ``<dst stem>.summary.json`` and returned to callers.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from cropland.data.layout import CLASSES, UNKNOWN_CLASS
from cropland.data.prepare.grouping import Record, Selection
from cropland.data.prepare.sources import SourceContents


def prepare_summary_path(dst: str | os.PathLike) -> Path:
    """Where the summary of ``dst`` is written: ``data/ca19.h5`` -> ``data/ca19.summary.json``."""
    return Path(dst).with_suffix(".summary.json")


def summarize(
    selection: Selection, contents: SourceContents, source: str, dst: Path, min_length: int
) -> dict:
    sequences = selection.sequences
    skipped = sorted(contents.skipped + selection.skipped, key=lambda s: s.source)
    folders = _folder_columns(contents.split_folders, selection.records)
    per_class = {name: dict.fromkeys(folders, 0) for name in CLASSES}
    unknown: dict[str, dict[str, int]] = {}
    for start, label, folder in zip(
        sequences.start, sequences.label, sequences.split_folder, strict=True
    ):
        if label != UNKNOWN_CLASS:
            per_class[CLASSES[label]][folder] += 1
        else:
            crop = selection.records[start].name.crop
            unknown.setdefault(crop, dict.fromkeys(folders, 0))[folder] += 1
    return {
        "source": source,
        "source_format": contents.format,
        "destination": str(dst),
        "min_length": min_length,
        "records": len(selection.records),
        "sequences": len(sequences),
        "sequences_per_class": per_class,
        "unknown_class_sequences": dict(sorted(unknown.items())),
        "records_per_split_folder": _count_in(folders, (r.split_folder for r in selection.records)),
        "sequences_per_split_folder": _count_in(folders, sequences.split_folder),
        "sequences_too_short": selection.sequences_too_short,
        "records_in_short_sequences": selection.records_in_short_sequences,
        "sequences_mixed_split_folders": selection.sequences_mixed_split_folders,
        "skipped_by_reason": dict(sorted(Counter(s.reason for s in skipped).items())),
        "skipped": [{"path": s.source, "reason": s.reason, "detail": s.detail} for s in skipped],
        "notices_by_reason": dict(sorted(Counter(n.reason for n in contents.notices).items())),
        "notices": [
            {"path": n.source, "reason": n.reason, "detail": n.detail} for n in contents.notices
        ],
    }


def _folder_columns(declared: tuple[str, ...], records: list[Record]) -> tuple[str, ...]:
    """The reader's folders, plus any other a record is in, so that no count goes unshown."""
    others = sorted({r.split_folder for r in records} - set(declared))
    return (*declared, *others)


def _count_in(folders: tuple[str, ...], values: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(folders, 0)
    counts.update(Counter(values))
    return counts
