"""Source adapters: whatever ``src`` is, the same list of patches to group, and what was skipped.

``src`` is recognised by its content: a folder is the PNG tree, an HDF5 file is the published
project's ``dataset_ca_19.hdf5``. Each reader turns its source into :class:`Patch` es (one
sensor's image of one point and date, with a way to read its PNG bytes), the files or rows it
left out, and those it read with a notice; the reasons are those of
:mod:`cropland.data.png_tree` and :mod:`cropland.data.published_hdf5`.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cropland.data.layout import SENSORS, SPLIT_FOLDERS, PatchName
from cropland.data.png_tree import EXPECTED_LAYOUT, read_patch, read_patch_file, scan_tree
from cropland.data.published_hdf5 import SPLIT_FOLDER as PUBLISHED_SPLIT_FOLDER
from cropland.data.published_hdf5 import PublishedFile, is_hdf5
from cropland.data.skip_record import Notice, Skipped
from cropland.errors import CroplandError

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


@dataclass
class SourceContents:
    """What a reader found in ``src``."""

    format: str  # png_tree | published_hdf5
    patches: list[Patch]
    skipped: list[Skipped]
    notices: list[Notice]
    split_folders: tuple[str, ...]  # the folders its patches can be in, in display order


@contextlib.contextmanager
def read_source(src: Path) -> Iterator[SourceContents]:
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
        opened = path if found.read_path is found.path else str(found.read_path)
        read = functools.partial(read_patch_file, opened, path)
        patches.append(Patch(found.name, found.split_folder, path, read))
    return SourceContents("png_tree", patches, scan.skipped, scan.notices, SPLIT_FOLDERS)


def _read_published_file(published: PublishedFile) -> SourceContents:
    patches = []
    for row in published.rows:
        for sensor in SENSORS:
            name = PatchName(row.point, row.date, row.province, row.crop, sensor)
            read = functools.partial(published.read_png, row.row, sensor)
            source = published.source(row.row, sensor)
            patches.append(Patch(name, PUBLISHED_SPLIT_FOLDER, source, read))
    split_folders = (PUBLISHED_SPLIT_FOLDER,)
    return SourceContents("published_hdf5", patches, published.skipped, [], split_folders)
