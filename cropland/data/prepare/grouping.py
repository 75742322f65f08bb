"""Grouping and validation: patches into records, records into sequences, and the skips.

Records are (point, date, province, crop) with a patch of each sensor to prepare; sequences are
records grouped by (point, province, year) and sorted by date. Every image is decoded once here
to check it (keeping no pixels); the writer decodes them again, so that memory stays bounded.

Skip reasons found here: ``missing_sensor``, ``duplicate_record`` (one point and date with
several images of a sensor: all of that point and date goes), ``label_conflict`` (a point
labelled with several crops in one year: all of that point and year goes), the image reasons
of :class:`~cropland.data.png_tree.PatchReadError` (``unreadable``, ``too_large``,
``special_file``, ``wrong_size``, ``wrong_mode``) and ``bad_image_in_record`` for the other
sensors of such a record.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
from rich.progress import Progress

from cropland.data.layout import CLASSES, SENSORS, SPLIT_FOLDERS, UNKNOWN_CLASS, PatchName
from cropland.data.png_tree import PatchReadError
from cropland.data.prepare.sources import Patch
from cropland.data.prepared_file import SequenceTable
from cropland.data.skip_record import Skipped


@dataclass(frozen=True, slots=True)
class Record:
    """One (point, date) with a patch of each prepared sensor, in ``SENSORS`` order."""

    patches: tuple[Patch, ...]
    split_folder: str

    @property
    def name(self) -> PatchName:
        """Point, date, province and crop, which all its patches share."""
        return self.patches[0].name

    def read(self) -> list[bytes]:
        return [patch.read() for patch in self.patches]

    def decode(self, pngs: list[bytes]) -> np.ndarray:
        return np.concatenate([p.decode(png) for p, png in zip(self.patches, pngs, strict=True)])


@dataclass
class Selection:
    """What goes into the file, and what was left out."""

    records: list[Record]  # file order: each sequence contiguous, dates ascending
    sequences: SequenceTable
    skipped: list[Skipped]
    sequences_too_short: int
    records_in_short_sequences: int
    sequences_mixed_split_folders: int


def select_sequences(
    patches: Iterable[Patch],
    min_length: int,
    progress: Progress,
    sensors: Sequence[str] = SENSORS,
) -> Selection:
    """Group patches into records and sequences; skip and report whatever is unusable.

    Records need a patch of each of ``sensors``. ``progress`` shows the decoding.
    """
    skipped: list[Skipped] = []
    records = _group_records(list(patches), skipped, tuple(sensors))
    records = _drop_bad_images(records, skipped, progress)
    return _group_sequences(records, min_length, skipped)


def _group_records(
    patches: list[Patch], skipped: list[Skipped], sensors: tuple[str, ...]
) -> list[Record]:
    duplicated = _duplicated_sensors(patches)
    by_record: dict[tuple, dict[str, Patch]] = defaultdict(dict)
    for patch in patches:
        name = patch.name
        repeated = duplicated.get((name.point, name.date))
        if repeated:
            # Two images of one point, date and sensor (in different class or split folders):
            # no way to tell which is right, so the whole (point, date) goes.
            detail = f"point {name.point} on {name.date} has several {'/'.join(repeated)} patches"
            skipped.append(Skipped(patch.source, "duplicate_record", detail))
        else:
            by_record[(name.point, name.date, name.province, name.crop)][name.sensor] = patch

    records = []
    for found in by_record.values():
        missing = [sensor for sensor in sensors if sensor not in found]
        if missing:
            detail = f"no {'/'.join(missing)} patch for this point, date and crop"
            skipped.extend(Skipped(p.source, "missing_sensor", detail) for p in found.values())
        else:
            patches_in_order = tuple(found[sensor] for sensor in sensors)
            folder = _majority(p.split_folder for p in patches_in_order)
            records.append(Record(patches_in_order, folder))
    return records


def _duplicated_sensors(patches: list[Patch]) -> dict[tuple[int, int], list[str]]:
    """(point, date) -> the sensors that have more than one patch there."""
    counts = Counter((p.name.point, p.name.date, p.name.sensor) for p in patches)
    duplicated: dict[tuple[int, int], list[str]] = defaultdict(list)
    for (point, date, sensor), count in sorted(counts.items()):
        if count > 1:
            duplicated[(point, date)].append(sensor)
    return duplicated


def _majority(folders: Iterable[str]) -> str:
    """The most common split folder; ties go to the one listed first in ``SPLIT_FOLDERS``."""
    counts = Counter(folders)
    rank = {folder: i for i, folder in enumerate(SPLIT_FOLDERS)}
    return max(counts, key=lambda f: (counts[f], -rank.get(f, len(rank)), f))


def _drop_bad_images(
    records: list[Record], skipped: list[Skipped], progress: Progress
) -> list[Record]:
    """Decode every image once (keeping no pixels); a bad image drops its whole record."""
    task = progress.add_task("checking images", total=sum(len(r.patches) for r in records))
    good = []
    for record in records:
        errors = _image_errors(record)
        progress.advance(task, len(record.patches))
        if not errors:
            good.append(record)
            continue
        first_bad = next(iter(errors.values()))
        for patch in record.patches:
            error = errors.get(patch.source)
            if error is not None:
                skipped.append(Skipped(patch.source, error.reason, error.detail))
            else:
                detail = f"{first_bad.reason} image in the same record: {first_bad.detail}"
                skipped.append(Skipped(patch.source, "bad_image_in_record", detail))
    return good


def _image_errors(record: Record) -> dict[str, PatchReadError]:
    errors = {}
    for patch in record.patches:
        try:
            patch.load()
        except PatchReadError as error:
            errors[patch.source] = error
    return errors


_SEQUENCE_COLUMNS = fields(SequenceTable)


def _group_sequences(records: list[Record], min_length: int, skipped: list[Skipped]) -> Selection:
    groups: dict[tuple[int, str, int], list[Record]] = defaultdict(list)
    for record in records:
        name = record.name
        groups[(name.point, name.province, name.year)].append(record)

    ordered: list[Record] = []
    columns: dict[str, list] = defaultdict(list)
    too_short = in_short = mixed = 0
    for (point, province, year), members in sorted(groups.items()):
        members.sort(key=lambda r: r.name.date)
        crops = sorted({r.name.crop for r in members})
        if len(crops) > 1:
            detail = f"point {point} in {year} is labelled {' and '.join(crops)}"
            skipped.extend(
                Skipped(p.source, "label_conflict", detail) for r in members for p in r.patches
            )
            continue
        if len(members) < min_length:
            too_short += 1
            in_short += len(members)
            continue
        folders = {p.split_folder for r in members for p in r.patches}
        mixed += len(folders) > 1
        columns["start"].append(len(ordered))
        columns["length"].append(len(members))
        columns["point"].append(point)
        columns["province"].append(province)
        columns["year"].append(year)
        columns["label"].append(CLASSES.index(crops[0]) if crops[0] in CLASSES else UNKNOWN_CLASS)
        columns["split_folder"].append(_majority(r.split_folder for r in members))
        ordered.extend(members)

    sequences = SequenceTable(**{f.name: np.asarray(columns[f.name]) for f in _SEQUENCE_COLUMNS})
    return Selection(ordered, sequences, skipped, too_short, in_short, mixed)
