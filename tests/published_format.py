"""Write files in the published project's HDF5 format (``dataset_ca_19.hdf5``), for tests and
the memory benchmark (benchmarks/prepare_memory.py), which imports it from here: it must import
nothing but cropland, so that the benchmarks need no other part of tests/.

The format, from DATASET.md: one row per (point, date) record; root datasets ``POINT`` int64,
``DATE``, ``REGION``, ``CROP_TYPE`` utf-8 strings, ``LABEL`` int64, and one variable-length
uint8 dataset per sensor holding each PNG file's bytes. The tree is read here by plain string
handling, not by cropland's own reader, so that tests compare two independent paths.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from cropland.data.layout import CLASSES, SENSORS


@dataclass
class PublishedRow:
    point: int
    date: str  # YYYYMM
    region: str
    crop_type: str
    label: int
    images: dict[str, bytes | Path]  # sensor -> PNG bytes, or a PNG file read when written


def rows_from_tree(tree: Path) -> list[PublishedRow]:
    """One row per (point, date, province, crop) of ``tree`` that has all six sensors.

    A tree's unknown crops get label -1. Rows come in path order; shuffle them to taste.
    """
    found: dict[tuple[int, str, str, str], dict[str, Path]] = defaultdict(dict)
    for path in sorted(Path(tree).glob("*/*/*/POINT_*.png")):
        fields = path.stem.split("_")  # POINT, id, date, province, crop (may hold _), sensor
        key = (int(fields[1]), fields[2], fields[3], "_".join(fields[4:-1]))
        found[key][fields[-1]] = path
    return [
        PublishedRow(point, date, region, crop, _label(crop), dict(paths))
        for (point, date, region, crop), paths in found.items()
        if set(paths) == set(SENSORS)
    ]


def _label(crop: str) -> int:
    return CLASSES.index(crop) if crop in CLASSES else -1


def write_published_file(path: Path, rows: Sequence[PublishedRow]) -> Path:
    """Write ``rows`` to ``path`` in exactly the published layout; return ``path``."""
    text = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        f.create_dataset("POINT", data=np.array([r.point for r in rows], dtype=np.int64))
        f.create_dataset("DATE", data=[r.date for r in rows], dtype=text)
        f.create_dataset("REGION", data=[r.region for r in rows], dtype=text)
        f.create_dataset("CROP_TYPE", data=[r.crop_type for r in rows], dtype=text)
        f.create_dataset("LABEL", data=np.array([r.label for r in rows], dtype=np.int64))
        for sensor in SENSORS:
            images = f.create_dataset(sensor, (len(rows),), dtype=h5py.vlen_dtype(np.uint8))
            # Row by row: h5py cannot write a slice of equal-length arrays to a vlen dataset.
            for i, row in enumerate(rows):
                images[i] = _png_array(row.images[sensor])
    return path


def write_published_from_tree(tree: Path, path: Path) -> Path:
    """The published file holding the same records as ``tree``."""
    return write_published_file(path, rows_from_tree(tree))


def _png_array(image: bytes | Path) -> np.ndarray:
    data = image.read_bytes() if isinstance(image, Path) else image
    return np.frombuffer(data, dtype=np.uint8)
