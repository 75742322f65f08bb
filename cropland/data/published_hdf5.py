"""Reading the published project's HDF5 (``dataset_ca_19.hdf5``): one row per (point, date).

Layout (see DATASET.md in the shared folder): root datasets of equal length, one row per record,

- ``POINT`` int64, ``DATE`` utf-8 ``YYYYMM``, ``REGION`` utf-8 province code, ``CROP_TYPE`` utf-8
  crop name, ``LABEL`` int64 class index (``CLASSES`` order);
- ``RGB``, ``NDVI``, ``NDVI45``, ``GNDVI``, ``OSAVI``, ``PSRI``: variable-length uint8, each the
  raw bytes of that sensor's PNG file.

It is recognised by its content, not its name: :func:`is_hdf5` says whether a file is HDF5 and
:class:`PublishedFile` refuses, with what is missing, an HDF5 file of any other layout.

The small columns are read whole and checked when the file is opened; a row that fails a check
is skipped with one of these reasons (the same rules as the file names of a PNG tree):

- ``bad_point``: ``POINT`` is negative;
- ``bad_date``: ``DATE`` is not ``YYYYMM`` with a month 1-12;
- ``unknown_province``: ``REGION`` is not one of ``PROVINCES``;
- ``bad_crop``: ``CROP_TYPE`` is not an upper-case name like ``SPRING_WHEAT``;
- ``label_mismatch``: ``LABEL`` is not the index of ``CROP_TYPE`` in ``CLASSES``. A crop outside
  ``CLASSES`` must not carry a class's index either; it is kept, with label -1, as in a tree.

Images are read one at a time, only when they are decoded, so memory does not grow with the
file. Rows are numbered from 0, as h5py indexes them; a row is shown as ``<file>[row 17]`` and
one of its images as ``<file>[row 17]/NDVI``.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from cropland.data.layout import CLASSES, PROVINCES, SENSORS, UNASSIGNED
from cropland.data.png_tree import EXPECTED_LAYOUT, PatchReadError, read_patch
from cropland.data.prepared_file import FORMAT as PREPARED_FORMAT
from cropland.data.skip_record import Skipped
from cropland.errors import CroplandError

TABLE_COLUMNS: tuple[str, ...] = ("POINT", "DATE", "REGION", "CROP_TYPE", "LABEL")
DATASETS: tuple[str, ...] = (*TABLE_COLUMNS, *SENSORS)

# The file has no training/validation/test folders; its records are marked as unassigned,
# so that data.split=predefined says there is no predefined split rather than inventing one.
SPLIT_FOLDER = UNASSIGNED

_DATE = re.compile(r"[0-9]{6}")
_CROP = re.compile(r"[A-Z][A-Z_]*")


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """A row whose table columns passed the checks (its images are not decoded yet)."""

    row: int
    point: int
    date: int  # YYYYMM
    province: str
    crop: str


def is_hdf5(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file with an HDF5 signature (whatever its name)."""
    return Path(path).is_file() and h5py.is_hdf5(path)


class PublishedFile:
    """An open published HDF5: rows checked up front, images decoded on demand.

    Keep it open while images are read (from any thread: h5py serializes access) and close it
    afterwards, or use it as a context manager.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise CroplandError(f"cannot read src={self.path} as HDF5 ({error})") from error
        try:
            self._images = self._check_layout()
            self.rows, self.skipped = self._check_rows()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> PublishedFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def source(self, row: int, sensor: str | None = None) -> str:
        """How a row, or one of its images, is named in reports: ``<file>[row 17]/NDVI``."""
        where = f"{self.path}[row {row}]"
        return where if sensor is None else f"{where}/{sensor}"

    def read_png(self, row: int, sensor: str) -> bytes:
        """The PNG file's bytes of one image; raises :class:`PatchReadError` if unreadable."""
        try:
            return self._images[sensor][row].tobytes()
        except OSError as error:  # a damaged chunk of the file
            detail = f"cannot read it from the HDF5 file ({error})"
            raise PatchReadError(self.source(row, sensor), "unreadable", detail) from error

    def read_image(self, row: int, sensor: str) -> np.ndarray:
        """Decode one image like a PNG file of the tree; raises :class:`PatchReadError`."""
        png = io.BytesIO(self.read_png(row, sensor))
        return read_patch(png, sensor, label=self.source(row, sensor))

    def _check_layout(self) -> dict[str, h5py.Dataset]:
        """Refuse, in one line, an HDF5 file that is not the published layout."""
        f = self._file
        if f.attrs.get("format") == PREPARED_FORMAT:
            raise CroplandError(
                f"src={self.path} is already a prepared cropland file; train on it directly "
                f"with `python scripts/train.py data=prepared data.path={self.path}`"
            )
        missing = [name for name in DATASETS if not isinstance(f.get(name), h5py.Dataset)]
        if missing:
            raise CroplandError(
                f"src={self.path} is an HDF5 file but not the published dataset_ca_19.hdf5: it "
                f"lacks the root dataset(s) {', '.join(missing)} (expected {', '.join(DATASETS)}); "
                f"give src the published file, or the PNG tree folder laid out as "
                f"{EXPECTED_LAYOUT}"
            )
        shapes = {name: f[name].shape for name in DATASETS}
        if len(set(shapes.values())) != 1 or len(shapes["POINT"]) != 1:
            found = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
            raise CroplandError(
                f"src={self.path}: the published datasets must be 1-D with one row per record, "
                f"found shapes {found}; the file is damaged or not the published one"
            )
        for name in DATASETS:
            expected = _expected_type(name)
            if not _has_type(f[name].dtype, name):
                raise CroplandError(
                    f"src={self.path}: dataset {name} holds {f[name].dtype}, expected {expected}; "
                    "the file is not the published dataset_ca_19.hdf5"
                )
        return {sensor: f[sensor] for sensor in SENSORS}

    def _check_rows(self) -> tuple[list[PublishedRow], list[Skipped]]:
        f = self._file
        points = f["POINT"][()]
        labels = f["LABEL"][()]
        # Undecodable bytes become U+FFFD, which then fails the checks with a readable detail.
        dates, regions, crops = (
            f[name].asstr(errors="replace")[()] for name in ("DATE", "REGION", "CROP_TYPE")
        )
        rows, skipped = [], []
        for row, columns in enumerate(zip(points, dates, regions, crops, labels, strict=True)):
            point, date, region, crop, label = columns
            problem = _row_problem(int(point), date, region, crop, int(label))
            if problem is None:
                rows.append(PublishedRow(row, int(point), int(date), region, crop))
            else:
                skipped.append(Skipped(self.source(row), *problem))
        return rows, skipped


def _expected_type(name: str) -> str:
    if name in ("POINT", "LABEL"):
        return "integers"
    if name in SENSORS:
        return "variable-length uint8 arrays (PNG bytes)"
    return "utf-8 strings"


def _has_type(dtype: np.dtype, name: str) -> bool:
    if name in ("POINT", "LABEL"):
        return dtype.kind in "iu"
    if name in SENSORS:
        return h5py.check_vlen_dtype(dtype) == np.dtype(np.uint8)
    return h5py.check_string_dtype(dtype) is not None


def _row_problem(
    point: int, date: str, region: str, crop: str, label: int
) -> tuple[str, str] | None:
    """``(reason, detail)`` when a row's table columns are unusable, else ``None``."""
    if point < 0:
        return "bad_point", f"POINT {point} is negative"
    if not _DATE.fullmatch(date) or not 1 <= int(date) % 100 <= 12:
        return "bad_date", f"DATE {date!r} is not YYYYMM"
    if region not in PROVINCES:
        return "unknown_province", f"REGION {region!r} is not one of {', '.join(PROVINCES)}"
    if not _CROP.fullmatch(crop):
        return "bad_crop", f"CROP_TYPE {crop!r} is not an upper-case crop name like SPRING_WHEAT"
    labelled = CLASSES[label] if 0 <= label < len(CLASSES) else None
    if crop in CLASSES and labelled != crop:
        detail = f"LABEL {label} but CROP_TYPE {crop}, which is class {CLASSES.index(crop)}"
        return "label_mismatch", detail
    if crop not in CLASSES and labelled is not None:
        detail = f"LABEL {label} is {labelled} but CROP_TYPE {crop} is not one of the classes"
        return "label_mismatch", detail
    return None
