"""Turn the dataset into one prepared HDF5 file (format in :mod:`cropland.data.prepared_file`).

``src`` is recognised by its content: a folder is the PNG tree, an HDF5 file is the published
project's ``dataset_ca_19.hdf5``. Two halves, so that both formats share the second one:

- a reader (:func:`_read_png_tree`, :func:`_read_published_file`) turns its source into
  :class:`Patch` es (one sensor's image of one point and date, with a way to read its PNG
  bytes), the files or rows it left out, and those it read with a notice;
- :func:`select_sequences` groups patches into records and sequences, decodes every image
  once to check it, and lists what it skipped and why; :func:`_prepare` then streams the
  pixels into the file, decoding them a second time so that memory stays bounded.

Skip reasons found here: ``missing_sensor``, ``duplicate_record`` (one point and date with
several images of a sensor: all of that point and date goes), ``label_conflict`` (a point
labelled with several crops in one year: all of that point and year goes), the image reasons
of :class:`~cropland.data.png_tree.PatchReadError` (``unreadable``, ``wrong_size``,
``wrong_mode``) and ``bad_image_in_record`` for the other sensors of such a record. The readers
add their own (see :mod:`cropland.data.png_tree` and :mod:`cropland.data.published_hdf5`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cropland.data.channels import channel_names
from cropland.data.layout import (
    CLASSES,
    IMAGE_SIZE,
    SENSORS,
    SPLIT_FOLDERS,
    PatchName,
)
from cropland.data.png_tree import EXPECTED_LAYOUT, PatchReadError, read_patch, scan_tree
from cropland.data.prepared_file import RecordTable, SequenceTable, write_prepared_file
from cropland.data.published_hdf5 import SPLIT_FOLDER as PUBLISHED_SPLIT_FOLDER
from cropland.data.published_hdf5 import PublishedFile, is_hdf5
from cropland.errors import CroplandError, short_reason
from cropland.io import write_json_atomic

# Records decoded and written together: ~8.6 MB of pixels, whatever the dataset's size.
BATCH_RECORDS = 256

# Example sources shown per reason in the printed summary; the JSON summary lists them all.
EXAMPLES_PER_REASON = 3

# What a full disk, a full quota or a file size limit (ulimit -f) make writes fail with.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

EXPECTED_SRC = f"the dataset folder laid out as {EXPECTED_LAYOUT}, or the published .hdf5 file"


@dataclass(frozen=True, slots=True)
class Patch:
    """One sensor's image of one point and date, from whichever source format."""

    name: PatchName
    split_folder: str
    source: str  # where it is, as shown in the skip report
    read: Callable[[], bytes]  # the PNG file's bytes; raises PatchReadError

    def decode(self, png: bytes) -> np.ndarray:
        """uint8 ``(channels, H, W)`` from the bytes ``read`` gave; raises PatchReadError."""
        return read_patch(io.BytesIO(png), self.name.sensor, label=self.source)

    def load(self) -> np.ndarray:
        return self.decode(self.read())


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something odd about a file that was read all the same (e.g. ``extension_case``)."""

    source: str
    reason: str
    detail: str


@dataclass
class SourceContents:
    """What a reader found in ``src``."""

    format: str  # png_tree | published_hdf5
    patches: list[Patch]
    skipped: list[Skipped]
    notices: list[Notice]
    split_folders: tuple[str, ...]  # the folders its patches can be in, in display order


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


def prepare_dataset(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    min_length: int = 3,
    overwrite: bool = False,
    progress: bool = True,
    sensors: Sequence[str] = SENSORS,
    report: bool = True,
) -> dict:
    """Prepare ``src`` (PNG tree folder or published HDF5) into the HDF5 file ``dst``.

    Returns the summary, which is also written beside ``dst`` as ``<dst stem>.summary.json``
    and, with ``report``, printed. Bad input (missing ``src``, existing ``dst``, nothing usable)
    and a failed write (a full disk) raise :class:`CroplandError`, leaving no temp file and
    ``dst`` as it was; bad files or rows inside ``src`` are skipped and reported.
    ``sensors``: the sensors a record needs and the file stores (all six by default; a model's
    own sensors when preparing data to predict on, so that other sensors may be absent).
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and src.exists() and dst.samefile(src):
        # With overwrite=true the published file would be replaced by its own conversion.
        raise CroplandError(f"dst={dst} is src itself; choose another dst, e.g. dst=data/ca19.h5")
    _check_options(dst, min_length, overwrite)
    sensors = tuple(sensors)
    unknown = [sensor for sensor in sensors if sensor not in SENSORS]
    if unknown or not sensors:
        raise CroplandError(f"sensors {list(sensors)}: expected some of {', '.join(SENSORS)}")
    with _read_source(src) as contents:
        contents.patches = [p for p in contents.patches if p.name.sensor in sensors]
        return _prepare(contents, str(src), dst, min_length, overwrite, progress, sensors, report)


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


@contextlib.contextmanager
def _read_source(src: Path) -> Iterator[SourceContents]:
    """Read ``src`` by what it is, not by its name; the published file stays open meanwhile."""
    if not src.exists():
        raise CroplandError(f"src={src} does not exist; expected {EXPECTED_SRC}")
    if src.is_dir():
        yield _read_png_tree(src)
    elif is_hdf5(src):
        with PublishedFile(src) as published:
            yield _read_published_file(published)
    else:
        raise CroplandError(
            f"src={src} is not a folder or an HDF5 file; expected {EXPECTED_SRC} "
            "(unpack an archive first)"
        )


def _read_png_tree(src: Path) -> SourceContents:
    scan = scan_tree(src)
    patches = []
    for found in scan.patches:
        path = str(found.path)  # one string per patch, not a Path as well: ~134k of them
        read = functools.partial(_read_file, path)
        patches.append(Patch(found.name, found.split_folder, path, read))
    skipped = [Skipped(str(s.path), s.reason, s.detail) for s in scan.skipped]
    notices = [Notice(str(n.path), n.reason, n.detail) for n in scan.notices]
    return SourceContents("png_tree", patches, skipped, notices, SPLIT_FOLDERS)


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise PatchReadError(path, "unreadable", f"cannot read the file ({error})") from error


def _read_published_file(published: PublishedFile) -> SourceContents:
    patches = []
    for row in published.rows:
        for sensor in SENSORS:
            name = PatchName(row.point, row.date, row.province, row.crop, sensor)
            read = functools.partial(published.read_png, row.row, sensor)
            source = published.source(row.row, sensor)
            patches.append(Patch(name, PUBLISHED_SPLIT_FOLDER, source, read))
    skipped = [Skipped(published.source(s.row), s.reason, s.detail) for s in published.skipped]
    return SourceContents("published_hdf5", patches, skipped, [], (PUBLISHED_SPLIT_FOLDER,))


def _prepare(
    contents: SourceContents,
    source: str,
    dst: Path,
    min_length: int,
    overwrite: bool,
    progress: bool,
    sensors: tuple[str, ...],
    report: bool,
) -> dict:
    with _progress_bar(progress) as bar:
        selection = select_sequences(contents.patches, min_length, bar, sensors)
        summary = _summarize(selection, contents, source, dst, min_length)
        if selection.records:
            attrs = {
                "classes": list(CLASSES),
                "channels": channel_names(sensors),
                "sensors": list(sensors),
                "image_size": IMAGE_SIZE,
                "min_length": min_length,
                "source": source,
                "source_format": contents.format,
            }
            _write(dst, selection, attrs, overwrite, bar)
    try:
        write_json_atomic(summary_path(dst), summary)
    except OSError as error:
        then = "run prepare again" + (" with overwrite=true" if selection.records else "")
        raise CroplandError(_write_failed(str(summary_path(dst)), error, then)) from error
    if report:
        _print_summary(summary)
    if not selection.records:
        raise CroplandError(
            f"no sequence of at least min_length={min_length} usable records in src={source}; "
            f"nothing was written to dst, see {summary_path(dst)} for what was skipped and why"
        )
    return summary


def select_sequences(
    patches: Iterable[Patch],
    min_length: int,
    progress: Progress,
    sensors: Sequence[str] = SENSORS,
) -> Selection:
    """Group patches into records and sequences; skip and report whatever is unusable.

    Records are (point, date, province, crop) with a patch of each of ``sensors``; sequences
    are records grouped by (point, province, year) and sorted by date. ``progress`` shows the
    decoding.
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
    dst: Path, selection: Selection, attrs: dict, overwrite: bool, progress: Progress
) -> None:
    batches = _pixel_batches(selection.records, progress)
    try:
        write_prepared_file(
            dst, _record_table(selection.records), selection.sequences, batches, attrs, overwrite
        )
    except FileExistsError as error:  # created by someone else while we were decoding
        raise CroplandError(_exists_message(dst)) from error
    except OSError as error:
        raise CroplandError(_write_failed(f"dst={dst}", error, "run prepare again")) from error


def _write_failed(what: str, error: OSError, then: str) -> str:
    """One line for a failed write of ``what``; its temporary file is already removed."""
    if error.errno in _DISK_FULL:
        return (
            f"could not write {what}: disk full or file too large "
            f"({os.strerror(error.errno)}); free space and {then}"
        )
    cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
    return (
        f"could not write {what} ({short_reason(cause)}); check that its folder exists and is "
        f"writable, then {then}"
    )


def _pixel_batches(records: list[Record], progress: Progress) -> Iterator[np.ndarray]:
    """Decode records batch by batch, in file order; at most two batches live at a time."""
    per_record = len(records[0].patches)
    task = progress.add_task("writing pixels", total=len(records) * per_record)
    batches = [records[i : i + BATCH_RECORDS] for i in range(0, len(records), BATCH_RECORDS)]
    # Decode the next batch in a thread while HDF5 compresses this one: h5py releases the
    # GIL while compressing, so the two overlap (Pillow's decoding does not, hence one thread).
    # Its PNG bytes are read here, before the write: reading the published HDF5 needs h5py's
    # lock, which the writer holds while it compresses, so reads in the thread would wait for
    # every write and the overlap would be lost (on a 1000-point file they waited ~9 s in all).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_decode_batch, batches[0], _read_batch(batches[0]))
        for following in [*batches[1:], None]:
            pixels = pending.result()
            if following is not None:
                pending = pool.submit(_decode_batch, following, _read_batch(following))
            yield pixels
            progress.advance(task, len(pixels) * per_record)


def _read_batch(records: list[Record]) -> list[list[bytes]]:
    return [record.read() for record in records]


def _decode_batch(records: list[Record], pngs: list[list[bytes]]) -> np.ndarray:
    return np.stack([record.decode(png) for record, png in zip(records, pngs, strict=True)])


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
        if label >= 0:
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


def _print_summary(summary: dict) -> None:
    console = Console()
    folders = list(summary["records_per_split_folder"])
    table = Table(title="sequences per class and split folder")
    table.add_column("class")
    for folder in folders:
        table.add_column(folder, justify="right")
    for name, counts in summary["sequences_per_class"].items():
        table.add_row(name, *(str(counts[f]) for f in folders))
    for crop, counts in summary["unknown_class_sequences"].items():
        table.add_row(f"{crop} (label -1)", *(str(counts[f]) for f in folders))
    console.print(table)
    console.print(
        f"stored {summary['records']} records in {summary['sequences']} sequences\n"
        f"dropped {summary['sequences_too_short']} sequences shorter than "
        f"min_length={summary['min_length']} ({summary['records_in_short_sequences']} records)\n"
        f"{summary['sequences_mixed_split_folders']} sequences span several split folders "
        "(each kept in its majority folder)"
    )
    for kind, title in (("skipped", "skipped"), ("notices", "read, with a notice")):
        if summary[kind]:
            console.print(_reason_table(summary, kind, title))
    if summary["skipped"] or summary["notices"]:
        console.print(
            f"examples are relative to src={summary['source']}; every one, with the reason, "
            f"is in {summary_path(summary['destination'])}",
            soft_wrap=True,
            markup=False,
        )
    written = summary_path(summary["destination"])
    if summary["records"]:
        console.print(f"wrote {summary['destination']} and {written}", markup=False)
    else:
        console.print(f"wrote only {written}: no usable sequence", markup=False)


def _reason_table(summary: dict, kind: str, title: str) -> Table:
    """Counts per reason, with a few example files or rows each (the JSON lists them all)."""
    table = Table(title=title)
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_column("examples", overflow="fold")
    examples: dict[str, list[str]] = defaultdict(list)
    for item in summary[kind]:
        if len(examples[item["reason"]]) < EXAMPLES_PER_REASON:
            examples[item["reason"]].append(_relative(item["path"], summary["source"]))
    for reason, count in summary[f"{kind}_by_reason"].items():
        # Text, not a markup string: "[row 17]" and odd file names must print as they are.
        table.add_row(reason, str(count), Text("\n".join(examples[reason])))
    return table


def _relative(path: str, source: str) -> str:
    """``path`` without the ``src`` prefix: a tree's files, or a published file's rows."""
    if path.startswith(source + os.sep):
        return path[len(source) + 1 :]
    if path.startswith(source + "["):
        return path[len(source) :]
    return path
