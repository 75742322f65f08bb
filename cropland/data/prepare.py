"""Turn the dataset into one prepared HDF5 file (format in :mod:`cropland.data.prepared_file`).

Two halves, so that another input format can reuse the second one:

- a reader turns its source into :class:`Patch` es (one sensor's image of one point and date,
  with a way to decode it) plus the files it left out (:func:`_read_png_tree` for the tree);
- :func:`select_sequences` groups patches into records and sequences, decodes every image
  once to check it, and lists what it skipped and why; :func:`_prepare` then streams the
  pixels into the file, decoding them a second time so that memory stays bounded.

Skip reasons found here: ``missing_sensor``, ``duplicate_record``, ``label_conflict``, the
image reasons of :class:`~cropland.data.png_tree.PatchReadError` (``unreadable``,
``wrong_size``, ``wrong_mode``) and ``bad_image_in_record`` for the other sensors of such a
record. The tree reader adds its own (see :func:`~cropland.data.png_tree.scan_tree`).
"""

from __future__ import annotations

import functools
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cropland.data.layout import (
    CHANNELS,
    CLASSES,
    IMAGE_SIZE,
    SENSORS,
    SPLIT_FOLDERS,
    PatchName,
)
from cropland.data.png_tree import PatchReadError, read_patch, scan_tree
from cropland.data.prepared_file import RecordTable, SequenceTable, write_prepared_file
from cropland.errors import CroplandError
from cropland.io import write_json_atomic

# Records decoded and written together: ~8.6 MB of pixels, whatever the dataset's size.
BATCH_RECORDS = 256


@dataclass(frozen=True, slots=True)
class Patch:
    """One sensor's image of one point and date, from whichever source format."""

    name: PatchName
    split_folder: str
    source: str  # where it is, as shown in the skip report
    load: Callable[[], np.ndarray]  # uint8 (channels, H, W); raises PatchReadError


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Record:
    """One (point, date) with a patch for every sensor, in ``SENSORS`` order."""

    patches: tuple[Patch, ...]
    split_folder: str

    @property
    def name(self) -> PatchName:
        """Point, date, province and crop, which all its patches share."""
        return self.patches[0].name

    def load(self) -> np.ndarray:
        return np.concatenate([patch.load() for patch in self.patches])


@dataclass
class Selection:
    """What goes into the file, and what was left out."""

    records: list[Record]  # file order: each sequence contiguous, dates ascending
    sequences: SequenceTable
    skipped: list[Skipped]
    sequences_too_short: int
    records_in_short_sequences: int
    sequences_mixed_split_folders: int


def prepare_dataset(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    min_length: int = 3,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Prepare the PNG tree ``src`` into the HDF5 file ``dst``; return the summary.

    The summary is also printed and written beside ``dst`` as ``<dst stem>.summary.json``.
    Bad input (missing folder, existing ``dst``, nothing usable) raises :class:`CroplandError`;
    bad files inside the tree are skipped and reported in the summary.
    """
    src, dst = Path(src), Path(dst)
    _check_options(dst, min_length, overwrite)
    patches, skipped = _read_png_tree(src)
    return _prepare(patches, skipped, str(src), dst, min_length, overwrite, progress)


def summary_path(dst: str | os.PathLike) -> Path:
    """Where the summary of ``dst`` is written: ``data/ca19.h5`` -> ``data/ca19.summary.json``."""
    return Path(dst).with_suffix(".summary.json")


def _check_options(dst: Path, min_length: int, overwrite: bool) -> None:
    if not isinstance(min_length, int) or min_length < 1:
        raise CroplandError(f"min_length={min_length!r}; it must be a whole number, at least 1")
    if dst.is_dir():
        example = dst / "prepared.h5"
        raise CroplandError(f"dst={dst} is a folder; give the file to write, e.g. dst={example}")
    if dst.exists() and not overwrite:
        raise CroplandError(_exists_message(dst))


def _exists_message(dst: Path) -> str:
    return f"dst={dst} already exists; set overwrite=true to replace it, or choose another dst"


def _read_png_tree(src: Path) -> tuple[list[Patch], list[Skipped]]:
    scan = scan_tree(src)
    patches = []
    for found in scan.patches:
        path = str(found.path)  # one string per patch, not a Path as well: ~134k of them
        load = functools.partial(read_patch, path, found.name.sensor)
        patches.append(Patch(found.name, found.split_folder, path, load))
    skipped = [Skipped(str(s.path), s.reason, s.detail) for s in scan.skipped]
    return patches, skipped


def _prepare(
    patches: list[Patch],
    skipped: list[Skipped],
    source: str,
    dst: Path,
    min_length: int,
    overwrite: bool,
    progress: bool,
) -> dict:
    with _progress_bar(progress) as bar:
        selection = select_sequences(patches, min_length, bar)
        summary = _summarize(selection, skipped, source, dst, min_length)
        if selection.records:
            _write(dst, selection, source, min_length, overwrite, bar)
    write_json_atomic(summary_path(dst), summary)
    _print_summary(summary)
    if not selection.records:
        raise CroplandError(
            f"no sequence of at least min_length={min_length} usable records in src={source}; "
            f"nothing was written to dst, see {summary_path(dst)} for what was skipped and why"
        )
    return summary


def select_sequences(patches: Iterable[Patch], min_length: int, progress: Progress) -> Selection:
    """Group patches into records and sequences; skip and report whatever is unusable.

    Records are (point, date, province, crop) with all six sensors; sequences are records
    grouped by (point, province, year) and sorted by date. ``progress`` shows the decoding.
    """
    skipped: list[Skipped] = []
    records = _group_records(list(patches), skipped)
    records = _drop_bad_images(records, skipped, progress)
    return _group_sequences(records, min_length, skipped)


def _group_records(patches: list[Patch], skipped: list[Skipped]) -> list[Record]:
    duplicated = _duplicated_sensors(patches)
    by_record: dict[tuple, dict[str, Patch]] = defaultdict(dict)
    for patch in patches:
        name = patch.name
        sensors = duplicated.get((name.point, name.date))
        if sensors:
            # Two images of one point, date and sensor (in different class or split folders):
            # no way to tell which is right, so the whole (point, date) goes.
            detail = f"point {name.point} on {name.date} has several {'/'.join(sensors)} patches"
            skipped.append(Skipped(patch.source, "duplicate_record", detail))
        else:
            by_record[(name.point, name.date, name.province, name.crop)][name.sensor] = patch

    records = []
    for found in by_record.values():
        missing = [sensor for sensor in SENSORS if sensor not in found]
        if missing:
            detail = f"no {'/'.join(missing)} patch for this point, date and crop"
            skipped.extend(Skipped(p.source, "missing_sensor", detail) for p in found.values())
        else:
            patches_in_order = tuple(found[sensor] for sensor in SENSORS)
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
    task = progress.add_task("checking images", total=len(records) * len(SENSORS))
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
        columns["label"].append(CLASSES.index(crops[0]) if crops[0] in CLASSES else -1)
        columns["split_folder"].append(_majority(r.split_folder for r in members))
        ordered.extend(members)

    sequences = SequenceTable(**{f.name: np.asarray(columns[f.name]) for f in _SEQUENCE_COLUMNS})
    return Selection(ordered, sequences, skipped, too_short, in_short, mixed)


def _record_table(records: list[Record]) -> RecordTable:
    names = [r.name for r in records]
    return RecordTable(
        point=np.asarray([n.point for n in names], dtype=np.int64),
        date=np.asarray([n.date for n in names], dtype=np.int32),
        province=np.asarray([n.province for n in names], dtype=object),
        crop=np.asarray([n.crop for n in names], dtype=object),
        split_folder=np.asarray([r.split_folder for r in records], dtype=object),
    )


def _write(
    dst: Path,
    selection: Selection,
    source: str,
    min_length: int,
    overwrite: bool,
    progress: Progress,
) -> None:
    attrs = {
        "classes": list(CLASSES),
        "channels": list(CHANNELS),
        "sensors": list(SENSORS),
        "image_size": IMAGE_SIZE,
        "min_length": min_length,
        "source": source,
    }
    batches = _pixel_batches(selection.records, progress)
    try:
        write_prepared_file(
            dst, _record_table(selection.records), selection.sequences, batches, attrs, overwrite
        )
    except FileExistsError as error:  # created by someone else while we were decoding
        raise CroplandError(_exists_message(dst)) from error
    except OSError as error:
        raise CroplandError(f"cannot write dst={dst}: {error}") from error


def _pixel_batches(records: list[Record], progress: Progress) -> Iterator[np.ndarray]:
    """Decode records batch by batch, in file order; at most two batches live at a time."""
    task = progress.add_task("writing pixels", total=len(records) * len(SENSORS))
    batches = [records[i : i + BATCH_RECORDS] for i in range(0, len(records), BATCH_RECORDS)]
    # Decode the next batch in a thread while HDF5 compresses this one: h5py releases the
    # GIL while compressing, so the two overlap (Pillow's decoding does not, hence one thread).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_load_batch, batches[0])
        for following in [*batches[1:], None]:
            pixels = pending.result()
            if following is not None:
                pending = pool.submit(_load_batch, following)
            yield pixels
            progress.advance(task, len(pixels) * len(SENSORS))


def _load_batch(records: list[Record]) -> np.ndarray:
    return np.stack([record.load() for record in records])


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TimeElapsedColumn(),
        disable=not enabled,
    )


def _summarize(
    selection: Selection, reader_skipped: list[Skipped], source: str, dst: Path, min_length: int
) -> dict:
    sequences = selection.sequences
    skipped = sorted(reader_skipped + selection.skipped, key=lambda s: s.source)
    per_class = {name: dict.fromkeys(SPLIT_FOLDERS, 0) for name in CLASSES}
    unknown: dict[str, dict[str, int]] = {}
    for start, label, folder in zip(
        sequences.start, sequences.label, sequences.split_folder, strict=True
    ):
        if label >= 0:
            per_class[CLASSES[label]][folder] += 1
        else:
            crop = selection.records[start].name.crop
            unknown.setdefault(crop, dict.fromkeys(SPLIT_FOLDERS, 0))[folder] += 1
    return {
        "source": source,
        "destination": str(dst),
        "min_length": min_length,
        "records": len(selection.records),
        "sequences": len(sequences),
        "sequences_per_class": per_class,
        "unknown_class_sequences": dict(sorted(unknown.items())),
        "records_per_split_folder": _count_in_folders(r.split_folder for r in selection.records),
        "sequences_per_split_folder": _count_in_folders(sequences.split_folder),
        "sequences_too_short": selection.sequences_too_short,
        "records_in_short_sequences": selection.records_in_short_sequences,
        "sequences_mixed_split_folders": selection.sequences_mixed_split_folders,
        "skipped_by_reason": dict(sorted(Counter(s.reason for s in skipped).items())),
        "skipped": [{"path": s.source, "reason": s.reason, "detail": s.detail} for s in skipped],
    }


def _count_in_folders(folders: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(SPLIT_FOLDERS, 0)
    counts.update(Counter(folders))
    return counts


def _print_summary(summary: dict) -> None:
    console = Console()
    table = Table(title="sequences per class and split folder")
    table.add_column("class")
    for folder in SPLIT_FOLDERS:
        table.add_column(folder, justify="right")
    for name, counts in summary["sequences_per_class"].items():
        table.add_row(name, *(str(counts[f]) for f in SPLIT_FOLDERS))
    for crop, counts in summary["unknown_class_sequences"].items():
        table.add_row(f"{crop} (label -1)", *(str(counts[f]) for f in SPLIT_FOLDERS))
    console.print(table)
    console.print(
        f"stored {summary['records']} records in {summary['sequences']} sequences\n"
        f"dropped {summary['sequences_too_short']} sequences shorter than "
        f"min_length={summary['min_length']} ({summary['records_in_short_sequences']} records)\n"
        f"{summary['sequences_mixed_split_folders']} sequences span several split folders "
        "(each kept in its majority folder)"
    )
    if summary["skipped_by_reason"]:
        skips = Table(title="skipped files")
        skips.add_column("reason")
        skips.add_column("files", justify="right")
        for reason, count in summary["skipped_by_reason"].items():
            skips.add_row(reason, str(count))
        console.print(skips)
    console.print(f"wrote {summary['destination']} and {summary_path(summary['destination'])}")
