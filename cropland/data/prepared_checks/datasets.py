"""A prepared file's datasets, judged from metadata before any is read: ``/pixels`` and the
tables' columns present, of their dtypes and of agreeing shapes, in chunks of bounded size."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import h5py
import numpy as np

from cropland.data.prepared_checks.refusal import refuse
from cropland.data.prepared_checks.storage import stored_bytes

# The writer's chunks hold one record; a chunk is decompressed whole to read any record in it.
MAX_PIXEL_CHUNK_BYTES = 64 * 2**20


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
                raise refuse(path, where, f"of shape {dataset.shape}", "a 1-D column", source)
            _check_column_dtype(dataset, where, integer_columns.get(name), path, source)
        first, *others = datasets.items()
        for name, dataset in others:
            if len(dataset) != len(first[1]):
                raise refuse(
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
        raise refuse(path, "/pixels", f"of dtype {pixels.dtype}", "uint8", source)
    if pixels.shape != expected_shape:
        raise refuse(
            path,
            "/pixels",
            f"of shape {pixels.shape}",
            f"{expected_shape}: (records, channels, image_size, image_size) from /records and "
            "the attributes 'channels' and 'image_size'",
            source,
        )
    if sequences > records:
        raise refuse(
            path,
            "/sequences",
            f"{sequences} rows for {records} records",
            "at most one sequence per record",
            source,
        )
    if pixels.chunks is not None:
        chunk_bytes = math.prod(pixels.chunks)
        if chunk_bytes > MAX_PIXEL_CHUNK_BYTES:
            raise refuse(
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
        stored += stored_bytes(dataset, where, path, source)
    if stored > file_size:
        raise refuse(
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
        raise refuse(path, f"/{name}", found, "a dataset (the file is incomplete)", source)
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
            raise refuse(path, where, f"of dtype {dtype}", "strings", source)
        return
    integer = np.dtype(integer)
    if not np.issubdtype(dtype, np.signedinteger) or dtype.itemsize > integer.itemsize:
        raise refuse(
            path, where, f"of dtype {dtype}", f"{integer} (or a narrower signed integer)", source
        )
