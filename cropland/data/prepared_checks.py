"""What a prepared file must hold before any of it is used (layout in
:mod:`cropland.data.prepared_file`): its data inside the file, attributes that are JSON strings of
the expected kind, tables and pixels of the documented dtypes and agreeing shapes, sizes the
file's storage can back, and table values that point inside the records.

The checks read the file's metadata and the small tables only, never pixels, so that they can
run on every open. Sizes are judged before anything is read: a few kilobytes of crafted
metadata can declare terabytes that HDF5 would hand out as fill zeros.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import fields
from typing import Any

import h5py
import numpy as np

from cropland.data.channels import channel_names
from cropland.data.class_names import MAX_CLASS_NAME_LENGTH, class_names_problem
from cropland.data.layout import CHANNELS, SENSORS, UNKNOWN_CLASS
from cropland.errors import CroplandError

# Deflate cannot shrink data more than 1032 to 1 (shuffle and fletcher32 do not shrink it, LZF
# far less): a dataset's declared bytes beyond this many times its stored bytes were never
# written.
MAX_COMPRESSION_RATIO = 1100
# The filters a file may use: the writer's (deflate, shuffle), a checksum, and h5py's LZF, so
# that a file repacked with h5repack's usual options still reads. Others (scale-offset, n-bit,
# plugins) could declare more than the ratio above or need a plugin to read at all.
_ALLOWED_FILTERS = {
    h5py.h5z.FILTER_DEFLATE: "gzip",
    h5py.h5z.FILTER_SHUFFLE: "shuffle",
    h5py.h5z.FILTER_FLETCHER32: "fletcher32",
    h5py.h5z.FILTER_LZF: "lzf",
}
# Far above the dataset's 65-pixel patches; keeps one record's pixels a few megabytes.
MAX_IMAGE_SIZE = 1024
# The writer's chunks hold one record; a chunk is decompressed whole to read any record in it.
MAX_PIXEL_CHUNK_BYTES = 64 * 2**20
# Attributes hold short JSON (class and channel names, a path); far above any of them.
MAX_ATTRIBUTE_CHARACTERS = 1_000_000
# The source path is shown in error messages and advice.
MAX_SOURCE_CHARACTERS = 4096
# Dates are YYYYMM (the patch file names' field): a four-digit year.
YEARS = (1000, 9999)

# Root attributes every reader needs; the writer also records sensors, min_length, source and
# source_format, checked when present.
REQUIRED_ATTRIBUTES = ("classes", "channels", "image_size")


class PreparedFileError(CroplandError):
    """A file that is not a readable prepared dataset; the message says what to do."""


def prepare_again(path: object, source: str | None) -> str:
    """The advice that ends every refusal of a prepared file: make it again from its source."""
    source = source or "<the dataset tree or published .hdf5>"
    return f"prepare it again: python scripts/prepare.py src={source} dst={path} overwrite=true"


def _refuse(
    path: object, what: str, found: str, expected: str, source: str | None = None
) -> PreparedFileError:
    return PreparedFileError(
        f"{path}: {what} is {found}, expected {expected}; {prepare_again(path, source)}"
    )


def _as_text(name: str) -> str:
    """A name from the file, as it can stand in a one-line message."""
    return name if name.isprintable() and len(name) <= 200 else repr(name[:200])


# --- data kept outside the file ------------------------------------------------------------------


def check_data_inside(f: h5py.File, path: object) -> None:
    """Refuse soft and external links, external storage and virtual datasets anywhere in ``f``:
    the writer makes none, and following one would read a file (or a pipe, which never ends)
    that whoever made this file chose. No escape hatch: a file of ours never needs one."""
    problems: list[str] = []

    def visit(name: str, link: Any) -> None:
        if problems:
            return
        where = _as_text(f"/{name}")
        if isinstance(link, h5py.ExternalLink):
            target = _as_text(f"{link.filename}:{link.path}")
            problems.append(f"{where} is an external link to {target}")
        elif isinstance(link, h5py.SoftLink):
            problems.append(f"{where} is a soft link to {_as_text(link.path)}")
        elif not isinstance(link, h5py.HardLink):
            problems.append(f"{where} is a user-defined link")
        else:
            item = f.get(name)
            if isinstance(item, h5py.Dataset):
                if item.is_virtual:
                    problems.append(f"{where} is a virtual dataset (its data is in other files)")
                elif item.external:
                    problems.append(f"{where} stores its data in external file(s)")

    f.visititems_links(visit)
    if problems:
        raise PreparedFileError(
            f"{path}: {problems[0]}, expected all data stored inside the file (reading data "
            f"elsewhere could read any file or hang on a pipe, so it is never followed); "
            f"{prepare_again(path, None)}"
        )


# --- attributes ----------------------------------------------------------------------------------


def checked_attributes(attrs: h5py.AttributeManager, path: object) -> dict:
    """The root attributes other than ``format`` and ``format_version``, decoded from JSON and
    checked: each a JSON string, the required ones present and of their kind."""
    values: dict[str, Any] = {}
    # The source first, so that a refusal of any other attribute can name it.
    for name in sorted(attrs, key=lambda name: name != "source"):
        if name in ("format", "format_version"):
            continue
        values[name] = _json_attribute(attrs, name, path, values.get("source"))
        if name == "source" and source_problem(values[name]):
            problem = source_problem(values[name])
            raise _refuse(path, "attribute 'source'", problem, "the path it was prepared from")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in values]
    if missing:
        raise _refuse(path, f"attribute {missing[0]!r}", "missing", "one (the writer records it)")
    source = values.get("source")
    for name, check in _ATTRIBUTE_CHECKS.items():
        if name in values:
            problem = check(values[name], values)
            if problem:
                found, expected = problem
                raise _refuse(path, f"attribute {name!r}", found, expected, source)
    return values


def _json_attribute(
    attrs: h5py.AttributeManager, name: str, path: object, source: str | None
) -> Any:
    try:
        raw = attrs[name]
    except (OSError, RuntimeError, TypeError) as error:
        raise _refuse(
            path,
            f"attribute {name!r}",
            f"unreadable ({type(error).__name__})",
            "a JSON string",
            source,
        ) from error
    if not isinstance(raw, str):
        raise _refuse(
            path, f"attribute {name!r}", f"a {type(raw).__name__}", "a JSON string", source
        )
    if len(raw) > MAX_ATTRIBUTE_CHARACTERS:
        raise _refuse(
            path,
            f"attribute {name!r}",
            f"{len(raw)} characters long",
            f"a JSON string of at most {MAX_ATTRIBUTE_CHARACTERS}",
            source,
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise _refuse(
            path, f"attribute {name!r}", "not valid JSON", "a JSON string", source
        ) from error


def source_problem(source: Any) -> str | None:
    """Why ``source`` cannot be the recorded ``src`` (shown in messages); None when it can."""
    if not isinstance(source, str):
        return f"a {type(source).__name__}"
    if not source or len(source) > MAX_SOURCE_CHARACTERS or not source.isprintable():
        return f"{source[:64]!r} (empty, over {MAX_SOURCE_CHARACTERS} characters or unprintable)"
    return None


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _classes_problem(value: Any, _: dict) -> tuple[str, str] | None:
    problem = class_names_problem(value)
    if problem:
        return f"no usable list of class names ({problem})", 'a JSON list like ["BARLEY", "OAT"]'
    return None


def _channels_problem(value: Any, _: dict) -> tuple[str, str] | None:
    expected = f"a list of distinct channel names out of {', '.join(CHANNELS)}"
    if not isinstance(value, list):
        return f"a {type(value).__name__}", expected
    if not value:
        return "an empty list", expected
    unknown = [c for c in value if not isinstance(c, str) or c not in CHANNELS]
    if unknown:
        return f"a list holding {str(unknown[0])[:64]!r}", expected
    if len(set(value)) != len(value):
        return "a list naming a channel twice", expected
    return None


def _sensors_problem(value: Any, attrs: dict) -> tuple[str, str] | None:
    if not isinstance(value, list) or not all(isinstance(s, str) and s in SENSORS for s in value):
        return f"{str(value)[:100]!r}", f"a list of sensor names out of {', '.join(SENSORS)}"
    if channel_names(value) != attrs["channels"]:
        return f"{value}", "the sensors whose channels are the attribute 'channels'"
    return None


def _image_size_problem(value: Any, _: dict) -> tuple[str, str] | None:
    if not _is_whole_number(value) or not 1 <= value <= MAX_IMAGE_SIZE:
        return f"{str(value)[:64]!r}", f"a whole number of pixels, 1 to {MAX_IMAGE_SIZE}"
    return None


def _min_length_problem(value: Any, _: dict) -> tuple[str, str] | None:
    if not _is_whole_number(value) or value < 1:
        return f"{str(value)[:64]!r}", "a whole number of records, at least 1"
    return None


def _source_format_problem(value: Any, _: dict) -> tuple[str, str] | None:
    if not isinstance(value, str) or not value.isidentifier():
        return f"{str(value)[:64]!r}", "a format name such as 'png_tree'"
    return None


_ATTRIBUTE_CHECKS = {
    "classes": _classes_problem,
    "channels": _channels_problem,
    "sensors": _sensors_problem,
    "image_size": _image_size_problem,
    "min_length": _min_length_problem,
    "source_format": _source_format_problem,
}


# --- datasets: dtypes, shapes and sizes, from metadata alone -------------------------------------


def check_datasets(
    f: h5py.File,
    path: object,
    attrs: Mapping[str, Any],
    tables: Mapping[str, Collection[str]],
    integer_columns: Mapping[str, np.dtype],
    file_size: int,
) -> None:
    """Check ``/pixels`` and the tables' columns before any is read: dtypes, shapes and their
    agreement, and declared sizes that the stored bytes can hold.

    ``tables`` maps each group to its column names; ``integer_columns`` maps a column to the
    dtype it is read as (any signed integer no wider fits), the other columns are strings.
    """
    source = attrs.get("source")
    pixels = _dataset(f, "pixels", path, source)
    columns = {
        group: {name: _dataset(f, f"{group}/{name}", path, source) for name in names}
        for group, names in tables.items()
    }
    lengths: dict[str, int] = {}
    for group, datasets in columns.items():
        for name, dataset in datasets.items():
            where = f"/{group}/{name}"
            if dataset.ndim != 1:
                raise _refuse(path, where, f"of shape {dataset.shape}", "a 1-D column", source)
            _check_column_dtype(dataset, where, integer_columns.get(name), path, source)
        first, *others = datasets.items()
        for name, dataset in others:
            if len(dataset) != len(first[1]):
                raise _refuse(
                    path,
                    f"/{group}/{name}",
                    f"{len(dataset)} long",
                    f"as long as /{group}/{first[0]} ({len(first[1])}), one entry per row",
                    source,
                )
        lengths[group] = len(first[1])

    records, sequences = lengths["records"], lengths["sequences"]
    channels, size = len(attrs["channels"]), attrs["image_size"]
    expected_shape = (records, channels, size, size)
    if pixels.dtype != np.uint8:
        raise _refuse(path, "/pixels", f"of dtype {pixels.dtype}", "uint8", source)
    if pixels.shape != expected_shape:
        raise _refuse(
            path,
            "/pixels",
            f"of shape {pixels.shape}",
            f"{expected_shape}: (records, channels, image_size, image_size) from /records and "
            "the attributes 'channels' and 'image_size'",
            source,
        )
    if sequences > records:
        raise _refuse(
            path,
            "/sequences",
            f"{sequences} rows for {records} records",
            "at most one sequence per record",
            source,
        )
    if pixels.chunks is not None:
        chunk_bytes = math.prod(pixels.chunks)
        if chunk_bytes > MAX_PIXEL_CHUNK_BYTES:
            raise _refuse(
                path,
                "/pixels",
                f"chunked in {pixels.chunks} ({chunk_bytes} bytes each)",
                f"chunks of at most {MAX_PIXEL_CHUNK_BYTES} bytes (the writer's hold one record)",
                source,
            )

    stored = 0
    for where, dataset in [
        ("/pixels", pixels),
        *((f"/{g}/{n}", d) for g, ds in columns.items() for n, d in ds.items()),
    ]:
        stored += _check_storage(dataset, where, path, source)
    if stored > file_size:
        raise _refuse(
            path,
            "its datasets' storage",
            f"{stored} bytes in a file of {file_size}",
            "storage inside the file (it was cut short or altered)",
            source,
        )


def _dataset(f: h5py.File, name: str, path: object, source: str | None) -> h5py.Dataset:
    item = f.get(name)
    if not isinstance(item, h5py.Dataset):
        found = "missing" if item is None else f"a {type(item).__name__}"
        raise _refuse(path, f"/{name}", found, "a dataset (the file is incomplete)", source)
    return item


def _check_column_dtype(
    dataset: h5py.Dataset,
    where: str,
    integer: np.dtype | None,
    path: object,
    source: str | None,
) -> None:
    dtype = dataset.dtype
    if integer is None:
        if h5py.check_string_dtype(dtype) is None:
            raise _refuse(path, where, f"of dtype {dtype}", "strings", source)
        return
    integer = np.dtype(integer)
    if not np.issubdtype(dtype, np.signedinteger) or dtype.itemsize > integer.itemsize:
        raise _refuse(
            path, where, f"of dtype {dtype}", f"{integer} (or a narrower signed integer)", source
        )


def _check_storage(dataset: h5py.Dataset, where: str, path: object, source: str | None) -> int:
    """The bytes ``dataset`` stores, refused when its filters are not ours or when they cannot
    hold the bytes its shape declares: chunks never written, read as fill zeros."""
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    unknown = [f for f in filters if f not in _ALLOWED_FILTERS]
    if unknown:
        raise _refuse(
            path,
            where,
            f"compressed with HDF5 filter {unknown[0]}",
            f"only {', '.join(_ALLOWED_FILTERS.values())} filters",
            source,
        )
    stored = int(dataset.id.get_storage_size())
    declared = math.prod(dataset.shape) * dataset.id.get_type().get_size()
    ratio = MAX_COMPRESSION_RATIO if filters else 1
    if dataset.chunks is not None:
        expected_chunks = math.prod(
            -(-extent // chunk) for extent, chunk in zip(dataset.shape, dataset.chunks, strict=True)
        )
        written = int(dataset.id.get_num_chunks())
        if written < expected_chunks:
            raise _refuse(
                path,
                where,
                f"{expected_chunks - written} of {expected_chunks} chunks never written",
                "every chunk written (missing ones would read as zeros)",
                source,
            )
    if declared > ratio * stored:
        raise _refuse(
            path,
            where,
            f"declared as {declared} bytes ({dataset.shape}) stored in {stored}",
            "stored bytes that can hold it (the rest was never written)",
            source,
        )
    return stored


# --- table values --------------------------------------------------------------------------------


def check_tables(
    records: Any, sequences: Any, classes: list[str], path: object, source: str | None
) -> None:
    """Check the values of the tables read from the file (``RecordTable`` and
    ``SequenceTable``): dates, sequences that tile the records in order, labels, text."""
    _check_dates(records.date, path, source)
    _check_sequences(records, sequences, path, source)
    _check_labels(sequences.label, len(classes), path, source)
    for group, table in (("records", records), ("sequences", sequences)):
        for field in fields(table):
            values = getattr(table, field.name)
            if values.dtype == object:  # a string column
                _check_text(values, f"/{group}/{field.name}", path, source)


def _shown(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return repr(value) if isinstance(value, str) else str(value)


def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _check_dates(date: np.ndarray, path: object, source: str | None) -> None:
    month, year = date % 100, date // 100
    bad = (month < 1) | (month > 12) | (year < YEARS[0]) | (year > YEARS[1])
    if bad.any():
        index = _first(bad)
        raise _refuse(
            path,
            f"/records/date[{index}]",
            f"{int(date[index])}",
            f"a date YYYYMM with a month 01 to 12 and a year {YEARS[0]} to {YEARS[1]}",
            source,
        )


def _check_sequences(records: Any, sequences: Any, path: object, source: str | None) -> None:
    total = len(records)
    start, length = sequences.start, sequences.length
    checks = (
        ("length", length < 1, "at least 1 record"),
        ("length", length > total, f"at most the {total} records"),
        ("start", (start < 0) | (start >= total), f"a record, 0 to {total - 1}"),
    )
    for name, bad, expected in checks:
        if bad.any():
            index = _first(bad)
            value = int(getattr(sequences, name)[index])
            raise _refuse(path, f"/sequences/{name}[{index}]", f"{value}", expected, source)
    # Values are now within the records, so the sums below cannot overflow.
    follows = np.concatenate([[0], np.cumsum(length)[:-1]]) if len(length) else length
    bad = start != follows
    if bad.any():
        index = _first(bad)
        raise _refuse(
            path,
            f"/sequences/start[{index}]",
            f"{int(start[index])}",
            f"{int(follows[index])}: sequences are contiguous and in order, each starting where "
            "the one before ends",
            source,
        )
    covered = int(length.sum())
    if covered != total:
        raise _refuse(
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
        raise _refuse(
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
            record = _first(bad)
            index = int(owner[record])
            raise _refuse(
                path,
                f"/sequences/{column}[{index}]",
                _shown(getattr(sequences, column)[index]),
                f"{_shown(of_record[record])}, that of its record {record}",
                source,
            )


def _check_labels(label: np.ndarray, classes: int, path: object, source: str | None) -> None:
    bad = ((label < 0) | (label >= classes)) & (label != UNKNOWN_CLASS)
    if bad.any():
        index = _first(bad)
        raise _refuse(
            path,
            f"/sequences/label[{index}]",
            f"{int(label[index])}",
            f"a class index 0 to {classes - 1} (attribute 'classes') or {UNKNOWN_CLASS} for an "
            "unknown crop",
            source,
        )


def _check_text(values: np.ndarray, where: str, path: object, source: str | None) -> None:
    """Names that end up in CSV cells, messages and figures: short and printable."""
    for value in set(values.tolist()):
        if not value or len(value) > MAX_CLASS_NAME_LENGTH or not value.isprintable():
            raise _refuse(
                path,
                where,
                f"holding {value[:MAX_CLASS_NAME_LENGTH]!r}",
                f"printable names of 1 to {MAX_CLASS_NAME_LENGTH} characters",
                source,
            )
