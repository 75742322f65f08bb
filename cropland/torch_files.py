"""What a PyTorch file from someone else must be before ``torch.load`` reads it: a zip archive,
as ``torch.save`` writes, whose size and members bound what loading it can cost.

``torch.load`` inflates each member it reads to the size the archive's directory declares and
unpickles ``data.pkl`` into objects many times its size, so a small crafted file could take
gigabytes of memory and minutes before any check of its content runs. Everything here is read
from the zip directory alone, before a member is inflated. A file in PyTorch's legacy (pre-zip)
format is refused: the sizes of its storages are only known by unpickling it.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

from cropland.errors import short_reason

# Many times the largest checkpoint of cropland's networks (their weights, Adam's two moments and
# Lightning's state), yet within a workstation's memory: torch.load reads every tensor whole, so
# this bounds the memory a file that passes these checks can take.
MAX_FILE_BYTES = 2 * 1024**3
# The pickle holds the structure only (names, shapes, hyperparameters; the tensors' bytes are
# other members): kilobytes in a real checkpoint. Unpickled, its objects can take tens of times
# its size, hence a bound far below the file's.
MAX_PICKLE_BYTES = 16 * 1024**2
# A real checkpoint's directory lists one member per tensor storage and a few records: some
# kilobytes. zipfile keeps an object per listed member, many times the bytes that list it, so
# a file made of millions of empty members would cost gigabytes to open.
MAX_DIRECTORY_BYTES = 4 * 1024**2
# What torch.load reads at the start of a file to tell a zip archive from the legacy format.
_ZIP_START = b"PK\x03\x04"


def torch_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` (an existing file) is not loaded, in a few words; None when it may be: a zip
    archive of at most MAX_FILE_BYTES whose members declare no more bytes than the file holds
    (``torch.save`` stores them uncompressed, so what it wrote inflates to less than its own
    size; members declaring more were packed by something else, as a zip bomb is), with a pickle
    of at most MAX_PICKLE_BYTES."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return f"it is {_bytes(size)}, more than the {_bytes(MAX_FILE_BYTES)} allowed"
    try:
        with path.open("rb") as file:
            if file.read(len(_ZIP_START)) != _ZIP_START:
                return (
                    "not a zip archive as torch.save writes; PyTorch's legacy format is not "
                    "read: its sizes cannot be checked before it is unpickled"
                )
            # zipfile's own reading of the end record: the directory size it gives is what
            # ZipFile then reads and parses, member by member.
            end = zipfile._EndRecData(file)
        if end is None:
            return "a zip archive without its directory (truncated?)"
        if end[zipfile._ECD_SIZE] > MAX_DIRECTORY_BYTES:
            return (
                f"its zip directory declares {_bytes(end[zipfile._ECD_SIZE])}, more than the "
                f"{_bytes(MAX_DIRECTORY_BYTES)} allowed"
            )
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError, struct.error) as error:
        return f"a damaged zip archive ({short_reason(error)})"
    inflated = sum(member.file_size for member in members)
    if inflated > size:
        return (
            f"its zip members declare {_bytes(inflated)} uncompressed, more than the file's "
            f"{_bytes(size)}: torch.save stores them uncompressed"
        )
    for member in members:
        if member.filename.endswith(".pkl") and member.file_size > MAX_PICKLE_BYTES:
            return (
                f"its {member.filename} is {_bytes(member.file_size)}, more than the "
                f"{_bytes(MAX_PICKLE_BYTES)} allowed"
            )
    return None


def _bytes(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
