"""Reading the dataset's PNG tree: find the patch files, and decode one patch.

The tree is ``<root>/<SENSOR>/<training|validation|test>/<CLASS>/POINT_..._<SENSOR>.png``
(see :mod:`cropland.data.layout`). :func:`scan_tree` only looks at paths; it never opens an
image. Files that cannot be a patch of this layout are returned with the reason they were
left out, so that preparation can report them instead of failing.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from cropland.data.layout import (
    IMAGE_SIZE,
    SENSORS,
    SPLIT_FOLDERS,
    PatchName,
    parse_patch_name,
)
from cropland.errors import CroplandError

PATCH_NAME = "POINT_<id>_<YYYYMM>_<PROV>_<CROP>_<SENSOR>.png"
EXPECTED_LAYOUT = f"<src>/<SENSOR>/<training|validation|test>/<CLASS>/{PATCH_NAME}"

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

# PNG modes each sensor may come in. An RGB patch needs three colour channels; an index
# patch repeats its value in every channel, so grey PNGs are as good as colour ones.
# 16-bit and bilevel modes would need a lossy conversion, so they are refused.
_RGB_MODES = frozenset({"RGB", "RGBA", "P"})
_INDEX_MODES = frozenset({"L", "LA", "RGB", "RGBA", "P"})


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


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str
    detail: str


@dataclass
class TreeScan:
    patches: list[PatchFile]
    skipped: list[SkippedFile]


def scan_tree(root: str | os.PathLike) -> TreeScan:
    """List every file under ``root`` as a patch or as skipped with a reason.

    Reasons: ``stray_file`` (not a .png, e.g. ``Thumbs.db``), ``bad_name`` (a .png whose name
    does not parse), ``misplaced`` (wrong depth, or folders that disagree with the file name),
    ``unreadable_folder``. Raises :class:`CroplandError` when ``root`` is not a folder or holds
    no patch at all, since then ``src`` is almost certainly the wrong path.
    """
    root = Path(root)
    _check_root(root)
    patches: list[PatchFile] = []
    skipped: list[SkippedFile] = []

    def folder_error(error: OSError) -> None:
        skipped.append(SkippedFile(Path(error.filename), "unreadable_folder", str(error)))

    for folder, _, files in os.walk(root, onerror=folder_error):
        folders = Path(folder).relative_to(root).parts
        for filename in files:
            entry = _classify(Path(folder, filename), (*folders, filename))
            (patches if isinstance(entry, PatchFile) else skipped).append(entry)

    if not patches:
        raise CroplandError(_no_patches_message(root, skipped))
    patches.sort(key=lambda p: p.path)
    skipped.sort(key=lambda s: s.path)
    return TreeScan(patches, skipped)


def _check_root(root: Path) -> None:
    if not root.exists():
        raise CroplandError(
            f"src={root} does not exist; expected the dataset folder laid out as {EXPECTED_LAYOUT}"
        )
    if not root.is_dir():
        raise CroplandError(
            f"src={root} is not a folder; expected the dataset folder laid out as {EXPECTED_LAYOUT}"
        )


def _classify(path: Path, parts: tuple[str, ...]) -> PatchFile | SkippedFile:
    filename = parts[-1]
    if not filename.endswith(".png"):
        return SkippedFile(path, "stray_file", "not a .png file")
    name = parse_patch_name(filename)
    if name is None:
        return SkippedFile(path, "bad_name", f"name is not {PATCH_NAME}")
    if len(parts) != 4:
        return SkippedFile(path, "misplaced", "not at <SENSOR>/<split folder>/<CLASS>/ below src")
    sensor_folder, split_folder, class_folder, _ = parts
    if sensor_folder != name.sensor:
        return SkippedFile(path, "misplaced", f"{name.sensor} patch in the {sensor_folder} folder")
    if split_folder not in SPLIT_FOLDERS:
        return SkippedFile(
            path,
            "misplaced",
            f"split folder {split_folder!r} is not one of {', '.join(SPLIT_FOLDERS)}",
        )
    if class_folder != name.crop:
        return SkippedFile(path, "misplaced", f"crop {name.crop} in class folder {class_folder}")
    return PatchFile(path, name, split_folder)


def _no_patches_message(root: Path, skipped: list[SkippedFile]) -> str:
    message = f"no patch images under src={root}; expected files laid out as {EXPECTED_LAYOUT}"
    misplaced = sum(s.reason == "misplaced" for s in skipped)
    if misplaced:
        message += (
            f" ({misplaced} patch files are at other places: src must be the folder that holds "
            f"{', '.join(SENSORS)})"
        )
    elif skipped:
        message += f" (found {len(skipped)} other files)"
    return message


def read_patch(source: str | os.PathLike | BinaryIO, sensor: str) -> np.ndarray:
    """Decode one patch PNG into uint8 ``(channels, 65, 65)``: 3 channels for RGB, 1 for an index.

    ``source`` is a path or an open binary file (PNG bytes from another container).
    Raises :class:`PatchReadError` with reason ``unreadable``, ``wrong_size`` or ``wrong_mode``.
    """
    label = str(source) if isinstance(source, str | os.PathLike) else repr(source)
    try:
        with Image.open(source, formats=["PNG"]) as image:
            _check_header(image, sensor, label)
            pixels = np.asarray(image.convert("RGB") if image.mode == "P" else image)
    except PatchReadError:
        raise  # it is a ValueError, which the next clause would relabel as unreadable
    except _DECODE_ERRORS as error:
        raise PatchReadError(label, "unreadable", f"not a readable PNG ({error})") from error
    return _to_channels_first(pixels, sensor)


def _check_header(image: Image.Image, sensor: str, label: str) -> None:
    """Refuse a patch from its header alone, before paying for decoding."""
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        width, height = image.size
        raise PatchReadError(
            label, "wrong_size", f"{width}x{height} pixels, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    if image.mode not in _allowed_modes(sensor):
        raise PatchReadError(
            label, "wrong_mode", f"PNG mode {image.mode} is not usable for {sensor}"
        )


def _allowed_modes(sensor: str) -> frozenset[str]:
    return _RGB_MODES if sensor == "RGB" else _INDEX_MODES


def _to_channels_first(pixels: np.ndarray, sensor: str) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    # Alpha (RGBA, LA) carries no data; an index repeats its value, so its first channel is it.
    keep = 3 if sensor == "RGB" else 1
    return np.ascontiguousarray(pixels[:, :, :keep].transpose(2, 0, 1))
