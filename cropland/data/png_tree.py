"""Reading the dataset's PNG tree: find the patch files, and decode one patch.

The tree is ``<root>/<SENSOR>/<training|validation|test>/<CLASS>/POINT_..._<SENSOR>.png``
(see :mod:`cropland.data.layout`). :func:`scan_tree` only looks at paths; it never opens an
image. Files that cannot be a patch of this layout are returned with the reason they were
left out, so that preparation can report them instead of failing.

Rules for messy trees (every file is either read, or skipped with one of these reasons):

- ``stray_file``: not a patch at all (``Thumbs.db``, ``notes.txt``). Skipped.
- ``odd_extension``: a patch name with another extension (``.jpg``, ``.png.bak``, none). Only
  PNG files are read, so it is skipped; the detail names the ``.png`` name to rename it to.
- ``bad_name``: a ``.png`` whose name does not parse. Skipped.
- ``unknown_province``: a province code that is not one of ``PROVINCES``. Skipped.
- ``misplaced``: wrong depth, or folders that disagree with the file name. A sensor, split or
  class folder that matches only when case is ignored (``rgb/``, ``Training/``) is misplaced
  too: folder names are part of the layout, so we do not guess; the detail says that renaming
  the folder is all it takes.
- ``unreadable_folder``: a folder that cannot be listed.
- ``special_file``, ``symlink_outside_src``, ``symlink_loop``, ``symlink_repeat``,
  ``broken_symlink``, ``unreadable``: not a regular file, or a link that does not stay inside
  src (see :mod:`cropland.data.tree_walk`). Links that resolve inside src are followed.

Reading a patch refuses, with ``too_large``, a file over :data:`MAX_PATCH_BYTES`, and, with
``special_file``, one that is no longer a regular file when it is opened.

A patch name whose extension is ``.png`` in another case (``.PNG``, ``.Png``) is a PNG: it is
read, and listed as an ``extension_case`` notice so that the user knows.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from cropland.bounded_read import UnreadableFile, read_regular_file
from cropland.data.layout import (
    IMAGE_SIZE,
    MAX_POINT_DIGITS,
    PROVINCES,
    SENSORS,
    SPLIT_FOLDERS,
    UNASSIGNED,
    PatchName,
    parse_patch_name,
)
from cropland.data.skip_record import Notice, Skipped
from cropland.data.tree_walk import walk_files
from cropland.errors import CroplandError

PATCH_NAME = "POINT_<id>_<YYYYMM>_<PROV>_<CROP>_<SENSOR>.png"
EXPECTED_LAYOUT = (
    f"<src>/<SENSOR>/<training|validation|test>/<CLASS>/{PATCH_NAME} "
    "(or <src>/<SENSOR>/<patch> for data without classes)"
)

# What Pillow raises for corrupt or truncated PNGs (seen when fuzzing real-sized patches:
# mostly OSError, some SyntaxError "broken PNG file"; the rest are rarer decoder paths).
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)

# PNG modes each sensor may come in, all at 8 bits per sample (palette PNGs at any depth: their
# palette holds 8-bit colours). An RGB patch needs three colour channels; an index patch
# repeats its value in every channel, so grey PNGs are as good as colour ones. 16-bit, 1-4 bit
# grey and bilevel PNGs would need a conversion that changes values, so they are refused.
_RGB_MODES = frozenset({"RGB", "RGBA", "P"})
_INDEX_MODES = frozenset({"L", "LA", "RGB", "RGBA", "P"})

# A 65x65 PNG holds at most 65 rows of 1 filter byte + 65 pixels x 4 channels x 2 bytes, under
# 34 KiB even stored uncompressed at 16 bits with alpha. A megabyte leaves room for any metadata
# an honest encoder adds, while a file over it cannot be one patch and would only cost memory
# (a link to /dev/zero would never end).
MAX_PATCH_BYTES = 1 << 20

_LONG_POINT_ID = re.compile(rf"POINT_[0-9]{{{MAX_POINT_DIGITS + 1},}}_", re.ASCII)

_WRONG_DEPTH = "not at <SENSOR>/<split folder>/<CLASS>/ or <SENSOR>/ below src"


class PatchReadError(CroplandError):
    """A patch file that cannot be used; ``reason`` is a short key for skip reports."""

    def __init__(self, source: str, reason: str, detail: str) -> None:
        super().__init__(f"cannot use patch {source}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PatchFile:
    """A file whose path and name fit the layout (its pixels are not checked yet)."""

    path: Path
    name: PatchName
    split_folder: str
    read_path: Path  # what to open: ``path`` itself unless a link inside src is on the way


@dataclass
class TreeScan:
    patches: list[PatchFile]
    skipped: list[Skipped]
    notices: list[Notice]


def scan_tree(root: str | os.PathLike) -> TreeScan:
    """List every file under ``root`` as a patch or as skipped with a reason.

    Reasons and notices are listed in the module docstring. Raises :class:`CroplandError` when
    ``root`` is not a folder or holds no patch at all, since then ``src`` is almost certainly
    the wrong path.
    """
    root = Path(root)
    _check_root(root)
    patches: list[PatchFile] = []
    skipped: list[Skipped] = []
    notices: list[Notice] = []

    files, skipped = walk_files(root)
    for file in files:
        entry = _classify(file.path, file.parts, file.read_path)
        if isinstance(entry, Skipped):
            skipped.append(entry)
            continue
        patches.append(entry)
        if not file.parts[-1].endswith(".png"):
            detail = f"read as a PNG; its usual name is {entry.name.filename}"
            notices.append(Notice(str(entry.path), "extension_case", detail))

    # As paths, folder by folder, like the patches (as strings, 'CORN-old/' would sort first).
    skipped.sort(key=lambda s: Path(s.source))
    if not patches:
        raise CroplandError(_no_patches_message(root, skipped))
    patches.sort(key=lambda p: p.path)
    notices.sort(key=lambda n: Path(n.source))
    return TreeScan(patches, skipped, notices)


def _check_root(root: Path) -> None:
    if not root.exists():
        raise CroplandError(
            f"src={root} does not exist; expected the dataset folder laid out as {EXPECTED_LAYOUT}"
        )
    if not root.is_dir():
        raise CroplandError(
            f"src={root} is not a folder; expected the dataset folder laid out as {EXPECTED_LAYOUT}"
        )


def _classify(path: Path, parts: tuple[str, ...], read_path: Path) -> PatchFile | Skipped:
    filename = parts[-1]
    stem, dot, extension = filename.rpartition(".")
    if not dot or extension.lower() != "png":
        return _not_a_png(path, filename)
    name = parse_patch_name(f"{stem}.png")
    if name is None:
        return Skipped(str(path), "bad_name", _bad_name_detail(filename))
    if name.province not in PROVINCES:
        detail = f"province {name.province} is not one of {', '.join(PROVINCES)}"
        return Skipped(str(path), "unknown_province", detail)
    if len(parts) == 2:
        # New data without split or class folders (to predict on): the name says the rest.
        misplaced = _sensor_folder_problem(path, parts[0], name.sensor)
        return misplaced or PatchFile(path, name, UNASSIGNED, read_path)
    if len(parts) != 4:
        return Skipped(str(path), "misplaced", _WRONG_DEPTH)
    sensor_folder, split_folder, class_folder, _ = parts
    misplaced = _sensor_folder_problem(path, sensor_folder, name.sensor)
    if misplaced:
        return misplaced
    if split_folder not in SPLIT_FOLDERS:
        if split_folder.lower() in SPLIT_FOLDERS:
            return _folder_case(path, "split", split_folder, split_folder.lower())
        return Skipped(
            str(path),
            "misplaced",
            f"split folder {split_folder!r} is not one of {', '.join(SPLIT_FOLDERS)}",
        )
    if class_folder != name.crop:
        if class_folder.upper() == name.crop:
            return _folder_case(path, "class", class_folder, name.crop)
        return Skipped(str(path), "misplaced", f"crop {name.crop} in class folder {class_folder}")
    return PatchFile(path, name, split_folder, read_path)


def _bad_name_detail(filename: str) -> str:
    detail = f"name is not {PATCH_NAME}"
    if not filename.isascii():
        return f"{detail} (it has non-ASCII characters; ids and dates are ASCII digits 0-9)"
    if _LONG_POINT_ID.match(filename):
        return f"{detail} (a point id has at most {MAX_POINT_DIGITS} digits)"
    return detail


def _sensor_folder_problem(path: Path, folder: str, sensor: str) -> Skipped | None:
    if folder == sensor:
        return None
    if folder.upper() == sensor:
        return _folder_case(path, "sensor", folder, sensor)
    return Skipped(str(path), "misplaced", f"{sensor} patch in the {folder} folder")


def _not_a_png(path: Path, filename: str) -> Skipped:
    """A patch name with another extension is worth a rename hint; anything else is stray."""
    base = filename
    while True:
        if parse_patch_name(f"{base}.png") is not None:
            extension = filename[len(base) :] or "no extension"
            detail = (
                f"a patch name with {extension}, not .png; only PNG files are read: "
                f"rename it to {base}.png if it is a PNG patch to use, else remove it"
            )
            return Skipped(str(path), "odd_extension", detail)
        base, dot, _ = base.rpartition(".")
        if not dot:
            return Skipped(str(path), "stray_file", "not a .png file")


def _folder_case(path: Path, kind: str, found: str, expected: str) -> Skipped:
    detail = (
        f"{kind} folder {found!r} differs from {expected!r} only in case; folder names are "
        f"matched exactly, so rename the folder to {expected} (nothing else needs to change)"
    )
    return Skipped(str(path), "misplaced", detail)


def _no_patches_message(root: Path, skipped: list[Skipped]) -> str:
    message = f"no patch images under src={root}; expected files laid out as {EXPECTED_LAYOUT}"
    misplaced = [s for s in skipped if s.reason == "misplaced"]
    if misplaced:
        example = misplaced[0]
        message += (
            f" ({len(misplaced)} patch files are at other places, e.g. {example.source}: "
            f"{example.detail}"
        )
        if any(s.detail == _WRONG_DEPTH for s in misplaced):
            message += f"; src must be the folder that holds {', '.join(SENSORS)}"
        message += ")"
    elif skipped:
        message += f" (found {len(skipped)} other files)"
    return message


def read_patch(
    source: str | os.PathLike | BinaryIO, sensor: str, label: str | None = None
) -> np.ndarray:
    """Decode one patch PNG into uint8 ``(channels, 65, 65)``: 3 channels for RGB, 1 for an index.

    ``source`` is a path or an open binary file (PNG bytes from another container); ``label``
    names it in errors (default: the path). Raises :class:`PatchReadError` with reason
    ``unreadable``, ``too_large``, ``special_file``, ``wrong_size`` or ``wrong_mode`` (16-bit,
    bilevel or 1-4 bit grey PNGs, or a grey PNG for RGB).
    """
    if label is None:
        label = str(source) if isinstance(source, str | os.PathLike) else repr(source)
    if isinstance(source, str | os.PathLike):
        png = read_patch_file(source, label)
    else:
        png = source.read(MAX_PATCH_BYTES + 1)
        if len(png) > MAX_PATCH_BYTES:
            raise PatchReadError(label, "too_large", _too_large(f"over {MAX_PATCH_BYTES} bytes"))
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            _check_header(image, _bit_depth(png), sensor, label)
            pixels = np.asarray(image.convert("RGB") if image.mode == "P" else image)
    except PatchReadError:
        raise  # it is a ValueError, which the next clause would relabel as unreadable
    except _DECODE_ERRORS as error:
        raise PatchReadError(label, "unreadable", f"not a readable PNG ({error})") from error
    return _to_channels_first(pixels, sensor)


def read_patch_file(path: str | os.PathLike, label: str) -> bytes:
    """A patch file's bytes, if it is a regular file of at most :data:`MAX_PATCH_BYTES`; raises
    :class:`PatchReadError` (``unreadable``, ``too_large`` or ``special_file``) naming ``label``.
    """
    try:
        return read_regular_file(path, MAX_PATCH_BYTES)
    except UnreadableFile as error:
        detail = _too_large(error.detail) if error.reason == "too_large" else error.detail
        raise PatchReadError(label, error.reason, detail) from error


def _too_large(found: str) -> str:
    return f"{found}; a {IMAGE_SIZE}x{IMAGE_SIZE} patch PNG is far smaller, so it is not one"


def _check_header(image: Image.Image, bit_depth: int | None, sensor: str, label: str) -> None:
    """Refuse a patch from its header alone, before paying for decoding."""
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        width, height = image.size
        raise PatchReadError(
            label, "wrong_size", f"{width}x{height} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    if bit_depth not in (8, None) and image.mode != "P":
        # Pillow reads 16-bit colour PNGs as 8-bit RGB(A), keeping the high byte of each
        # value: the patch would load, silently changed. Palette PNGs of 1-4 bits are fine:
        # their palette holds 8-bit colours.
        raise PatchReadError(
            label,
            "wrong_mode",
            f"{bit_depth}-bit PNG; only 8-bit PNGs are read, as the dataset's patches are: "
            "save it with 8 bits per channel",
        )
    if image.mode not in _allowed_modes(sensor):
        raise PatchReadError(
            label, "wrong_mode", f"PNG mode {image.mode} is not usable for {sensor}"
        )


def _bit_depth(png: bytes) -> int | None:
    """Bits per sample, from the PNG's header chunk (IHDR, first after the 8-byte signature:
    length, type, width, height, then the bit depth); Pillow's mode does not always show it."""
    return png[24] if len(png) > 24 and png[12:16] == b"IHDR" else None


def _allowed_modes(sensor: str) -> frozenset[str]:
    return _RGB_MODES if sensor == "RGB" else _INDEX_MODES


def _to_channels_first(pixels: np.ndarray, sensor: str) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    # Alpha (RGBA, LA) carries no data; an index repeats its value, so its first channel is it.
    keep = 3 if sensor == "RGB" else 1
    return np.ascontiguousarray(pixels[:, :, :keep].transpose(2, 0, 1))
