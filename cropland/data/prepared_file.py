"""Our prepared HDF5 file: decoded uint8 pixels plus the record and sequence tables.

Layout (format ``cropland.prepared``, version 1)::

    /                       attrs: format, format_version, classes, channels, sensors,
                                   image_size, min_length, source (all JSON-able scalars/lists)
    /pixels                 uint8 (records, channels, H, W), one chunk per record, gzip
    /records/point          int64   point id
    /records/date           int32   YYYYMM
    /records/province       str
    /records/crop           str     crop name as written in the file name
    /records/split_folder   str     training | validation | test (folder the file sat in)
    /sequences/start        int64   first record of the sequence
    /sequences/length       int64   number of records (dates)
    /sequences/point        int64
    /sequences/province     str
    /sequences/year         int32
    /sequences/label        int64   index into ``classes``; -1 (``UNKNOWN_CLASS``) when the crop
                                    is not a known class
    /sequences/split_folder str     the split folder most of its records sat in

Records of one sequence are contiguous and sorted by date, so a sequence is the slice
``start:start + length`` of every ``/records/*`` array and of ``/pixels``. Only records that
belong to a kept sequence are stored. :mod:`cropland.data.prepared_checks` holds a file to all
of this before a reader uses it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from cropland.data.hdf5_write_sink import WriteSink, signals_held_back
from cropland.data.prepared_checks.attributes import checked_attributes, source_problem
from cropland.data.prepared_checks.data_inside import check_data_inside
from cropland.data.prepared_checks.datasets import check_datasets
from cropland.data.prepared_checks.refusal import PreparedFileError, prepare_again
from cropland.data.prepared_checks.tables import check_tables
from cropland.errors import short_reason
from cropland.io import atomic_output

FORMAT = "cropland.prepared"
FORMAT_VERSION = 1

_STR = h5py.string_dtype("utf-8")


@dataclass
class RecordTable:
    point: np.ndarray
    date: np.ndarray
    province: np.ndarray
    crop: np.ndarray
    split_folder: np.ndarray

    def __len__(self) -> int:
        return len(self.point)

    @property
    def month(self) -> np.ndarray:
        return self.date % 100


@dataclass
class SequenceTable:
    start: np.ndarray
    length: np.ndarray
    point: np.ndarray
    province: np.ndarray
    year: np.ndarray
    label: np.ndarray
    split_folder: np.ndarray

    def __len__(self) -> int:
        return len(self.start)


_DTYPES = {
    "point": np.int64,
    "date": np.int32,
    "start": np.int64,
    "length": np.int64,
    "year": np.int32,
    "label": np.int64,
}


_TABLES = {
    "records": [field.name for field in fields(RecordTable)],
    "sequences": [field.name for field in fields(SequenceTable)],
}


def _write_table(group: h5py.Group, table: RecordTable | SequenceTable) -> None:
    for field in fields(table):
        values = getattr(table, field.name)
        if field.name in _DTYPES:
            group.create_dataset(field.name, data=np.asarray(values, dtype=_DTYPES[field.name]))
        else:
            group.create_dataset(field.name, data=[str(v) for v in values], dtype=_STR)


def _read_table(group: h5py.Group, cls: type) -> RecordTable | SequenceTable:
    columns = {}
    for field in fields(cls):
        dataset = group[field.name]
        if field.name in _DTYPES:  # checked: a signed integer no wider than this
            columns[field.name] = dataset[()].astype(_DTYPES[field.name])
        else:
            columns[field.name] = np.asarray(dataset.asstr()[()], dtype=object)
    return cls(**columns)


def write_prepared_file(
    dst: Path,
    records: RecordTable,
    sequences: SequenceTable,
    pixel_batches: Iterable[np.ndarray],
    attrs: dict,
    overwrite: bool = False,
) -> None:
    """Write a prepared file atomically (:func:`cropland.io.atomic_output`): into a temporary
    file beside ``dst``, renamed when complete. A ``dst`` there is replaced only with
    ``overwrite``; without, one that appears meanwhile (another prepare) is refused at the
    rename. Callers refuse an existing one first (:func:`cropland.io.refuse_to_replace`).

    ``pixel_batches`` yields uint8 arrays ``(n, channels, H, W)`` in record order, so a caller
    can stream pixels without holding the whole dataset in memory. An interrupted write leaves
    no ``dst`` that looks valid; a temp file left by a killed process is removed by the next
    write into the folder. A failed write (disk full, file size limit) raises
    :class:`HDF5WriteError` with the ``OSError`` behind it.
    """
    dst = Path(dst)
    channels = list(attrs["channels"])
    size = int(attrs["image_size"])
    with atomic_output(dst, overwrite=overwrite) as tmp:
        sink = WriteSink(tmp)
        try:
            with signals_held_back() as deliver_signals, h5py.File(sink, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["format_version"] = FORMAT_VERSION
                for key, value in attrs.items():
                    f.attrs[key] = json.dumps(value)
                pixels = f.create_dataset(
                    "pixels",
                    shape=(len(records), len(channels), size, size),
                    dtype=np.uint8,
                    chunks=(1, len(channels), size, size),
                    compression="gzip",
                    compression_opts=4,
                    shuffle=True,
                )
                written = 0
                for batch in pixel_batches:
                    pixels[written : written + len(batch)] = batch
                    written += len(batch)
                    sink.raise_failure(dst)  # stop at once: the rest would only go to memory
                    deliver_signals()
                if written != len(records):
                    raise RuntimeError(f"wrote {written} pixel records for {len(records)} records")
                _write_table(f.create_group("records"), records)
                _write_table(f.create_group("sequences"), sequences)
        finally:
            sink.close()
        sink.raise_failure(dst)


def is_prepared_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file in our prepared format (judged by content, not name)."""
    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


class DamagedFileError(PreparedFileError):
    """A prepared file that HDF5 cannot read (a disk error, a copy cut short or altered):
    reading it again will not help, preparing it again will."""

    def __init__(self, message: str) -> None:
        super().__init__(_original_message(message, type(self).__name__))


def _original_message(message: str, name: str) -> str:
    """The message of an error raised in a DataLoader worker and raised again by torch in the
    main process: torch rebuilds the error from ``"Caught <name> in DataLoader worker ...
    Original Traceback ..."`` and the whole traceback; scripts print only the message."""
    if not message.startswith(f"Caught {name} ") or "\nOriginal Traceback" not in message:
        return message
    marker = f"{name}: "
    for line in reversed(message.splitlines()):
        if marker in line:
            return line.split(marker, 1)[1]
    return message


# h5py raises OSError for unreadable bytes (a chunk that does not decompress, a truncated
# file) and RuntimeError from a few other HDF5 calls that fail on damaged metadata; an HDF5
# error inside one of h5py's callbacks (walking the links of damaged metadata) surfaces as
# SystemError.
_READ_ERRORS = (OSError, RuntimeError, SystemError)


def damaged_file_error(
    path: Path, what: str, error: BaseException, source: str | None = None
) -> DamagedFileError:
    """The error for a prepared file at ``path`` whose ``what`` HDF5 could not read; the
    advice names the dataset it was prepared from (``source``, else read from the file)."""
    source = source or _recorded_source(path)
    return DamagedFileError(
        f"{path} is damaged: cannot read {what} ({short_reason(error)}); "
        f"{prepare_again(path, source)}"
    )


def _recorded_source(path: Path) -> str | None:
    """The ``src`` a prepared file was made from, if its attributes can still be read and it
    is a path fit for a one-line message."""
    try:
        with h5py.File(path, "r") as f:
            source = json.loads(f.attrs["source"])
    except Exception:  # damaged beyond that too: the advice then names no source
        return None
    return None if source_problem(source) else source


def open_for_reading(path: Path, source: str | None = None) -> h5py.File:
    """``path`` opened read-only with h5py; a file HDF5 cannot open raises
    :class:`DamagedFileError`."""
    try:
        return h5py.File(path, "r")
    except _READ_ERRORS as error:
        raise damaged_file_error(path, "the file", error, source) from error


def read_records(
    pixels: h5py.Dataset, start: int, stop: int, path: Path, source: str | None = None
) -> np.ndarray:
    """Records ``start:stop`` of an open file's ``/pixels`` (all channels), uint8; damaged
    bytes raise :class:`DamagedFileError`."""
    try:
        return pixels[start:stop]
    except _READ_ERRORS as error:
        what = f"the pixels of records {start} to {stop - 1}"
        raise damaged_file_error(path, what, error, source) from error


class PreparedFile:
    """Read access to a prepared file: tables and attributes eagerly, pixels on demand.

    A file whose content is not what the writer makes (see :mod:`cropland.data.prepared_checks`)
    raises :class:`PreparedFileError` on construction, before a table is used or a size believed;
    the checks read no pixels. A file HDF5 cannot read, whole or in part, raises
    :class:`DamagedFileError`. Both say to prepare it again.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise PreparedFileError(
                f"data file {self.path} does not exist; create it with "
                f"`python scripts/prepare.py src=<dataset tree> dst={self.path}`"
            )
        try:
            is_hdf5 = h5py.is_hdf5(self.path)
        except OSError as error:  # e.g. no permission to read it
            raise PreparedFileError(
                f"cannot read data file {self.path} ({short_reason(error)}); check that it is "
                "readable"
            ) from error
        if not is_hdf5:
            raise PreparedFileError(
                f"{self.path} is not an HDF5 file; expected a prepared cropland file, made with "
                f"`python scripts/prepare.py src=<tree or published .hdf5> dst={self.path}`"
            )
        with open_for_reading(self.path) as f:
            self._read_contents(f)

    def _read_contents(self, f: h5py.File) -> None:
        try:
            if f.attrs.get("format") != FORMAT:
                raise PreparedFileError(
                    f"{self.path} is not a prepared cropland file (attribute 'format' is "
                    f"{f.attrs.get('format')!r}, expected {FORMAT!r}); convert the dataset "
                    f"with `python scripts/prepare.py src=<tree or published .hdf5> "
                    f"dst=<file.h5>`"
                )
            version = f.attrs["format_version"]
            if not isinstance(version, int | np.integer) or version != FORMAT_VERSION:
                raise PreparedFileError(
                    f"{self.path} has format version {str(version)[:64]!r}, this cropland "
                    f"reads {FORMAT_VERSION}; {prepare_again(self.path, None)}"
                )
            # Everything is checked before a table is read or a size is believed: a crafted
            # file can declare more than memory holds, or point at data outside itself.
            check_data_inside(f, self.path)
            self.attrs = checked_attributes(f.attrs, self.path)
            check_datasets(f, self.path, self.attrs, _TABLES, _DTYPES, os.path.getsize(self.path))
            self.records = _read_table(f["records"], RecordTable)
            self.sequences = _read_table(f["sequences"], SequenceTable)
            check_tables(self.records, self.sequences, self.classes, self.path, self.source)
            self.pixel_shape = tuple(f["pixels"].shape)
        except PreparedFileError:
            raise
        except KeyError as error:
            raise PreparedFileError(
                f"{self.path} lacks {error}; it was not written completely, prepare it again"
            ) from error
        # ValueError: text that is not UTF-8; TypeError: an HDF5 type numpy has no match for.
        except (*_READ_ERRORS, ValueError, TypeError) as error:
            raise damaged_file_error(self.path, "its tables", error) from error

    @property
    def classes(self) -> list[str]:
        return list(self.attrs["classes"])

    @property
    def channels(self) -> list[str]:
        return list(self.attrs["channels"])

    @property
    def source(self) -> str | None:
        """The ``src`` the file was prepared from."""
        return self.attrs.get("source")

    def pixel_bytes(self, channels: int | None = None) -> int:
        """Size in memory of all records' pixels, for ``channels`` of them (default all)."""
        records, all_channels, height, width = self.pixel_shape
        return records * (all_channels if channels is None else channels) * height * width

    def read_records(
        self, start: int, stop: int, channel_indices: list[int] | None = None
    ) -> np.ndarray:
        """Records ``start:stop`` (e.g. one sequence) for the given channels (default all), as
        uint8 ``(stop - start, C, H, W)``."""
        with open_for_reading(self.path, self.source) as f:
            pixels = read_records(f["pixels"], start, stop, self.path, self.source)
        return pixels if channel_indices is None else pixels[:, channel_indices]

    def iter_pixels(
        self, channel_indices: list[int] | None = None, block: int = 1024
    ) -> Iterator[np.ndarray]:
        """The records' pixels for the given channels (default all), ``block`` records at a
        time, as uint8 arrays ``(records in block, C, H, W)``: memory holds one block."""
        with open_for_reading(self.path, self.source) as f:
            source = f["pixels"]
            for start in range(0, source.shape[0], block):
                stop = min(start + block, source.shape[0])
                try:
                    # Every channel, then the wanted ones in numpy: h5py's own channel selection
                    # was slower than reading the whole block (chunks hold one whole record).
                    pixels = source[start:stop]
                except _READ_ERRORS as error:
                    what = f"the pixels of records {start} to {stop - 1}"
                    raise damaged_file_error(self.path, what, error, self.source) from error
                yield pixels if channel_indices is None else pixels[:, channel_indices]

    def read_pixels(
        self, channel_indices: list[int] | None = None, block: int = 1024
    ) -> np.ndarray:
        """All records' pixels for the given channels (default all) as one uint8 array
        ``(records, C, H, W)``, filled block by block: never every channel in memory."""
        channels = self.pixel_shape[1] if channel_indices is None else len(channel_indices)
        pixels = np.empty((self.pixel_shape[0], channels, *self.pixel_shape[2:]), np.uint8)
        start = 0
        for part in self.iter_pixels(channel_indices, block):
            pixels[start : start + len(part)] = part
            start += len(part)
        return pixels
