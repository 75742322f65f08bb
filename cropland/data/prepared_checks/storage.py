"""What a dataset declares against what the file stores for it: only filters we know, every
chunk written, and no more declared bytes than the stored ones can expand to. Crafted metadata
of a few kilobytes can otherwise declare terabytes that HDF5 hands out as fill zeros."""

from __future__ import annotations

import math

import h5py

from cropland.data.prepared_checks.refusal import refuse

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


def stored_bytes(dataset: h5py.Dataset, where: str, path: object, source: str | None) -> int:
    """The bytes ``dataset`` stores, refused when its filters are not ours or when they cannot
    hold the bytes its shape declares: chunks never written, read as fill zeros."""
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    unknown = [f for f in filters if f not in _ALLOWED_FILTERS]
    if unknown:
        raise refuse(
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
            raise refuse(
                path,
                where,
                f"{expected_chunks - written} of {expected_chunks} chunks never written",
                "every chunk written (missing ones would read as zeros)",
                source,
            )
    if declared > ratio * stored:
        raise refuse(
            path,
            where,
            f"declared as {declared} bytes ({dataset.shape}) stored in {stored}",
            "stored bytes that can hold it (the rest was never written)",
            source,
        )
    return stored
