"""Listing and reading a folder tree someone else made, without being led out of it or stalled.

:func:`walk_files` lists the regular files under a root with :func:`os.lstat` (it opens no
file), and returns everything else as :class:`~cropland.data.skip_record.Skipped` with one of:

- ``special_file``: a FIFO, a device or a socket. Opening a FIFO waits for a writer forever,
  reading a device may never end (``/dev/zero``), so they are never opened.
- ``symlink_outside_src``: a link that resolves outside the root. Only what is inside is read,
  so that a link to ``/dev/zero`` or to someone's home folder cannot become data.
- ``symlink_loop``: a link that never resolves (it points at itself, directly or not), or a
  folder link to a folder that holds it (following it would never end).
- ``symlink_repeat``: a folder link to a folder already listed through another link.
- ``broken_symlink``: a link to nothing.
- ``unreadable_folder`` and ``unreadable``: a folder that cannot be listed, an entry that
  cannot be looked at.

Links that resolve inside the root are followed, files and folders alike; the files found
through them keep the path of the link, so a sensor folder that is a link reads as that sensor.

Reading one of the files is :func:`cropland.bounded_read.read_regular_file`'s: only if it is
still a regular file, and at most a given number of bytes.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cropland.bounded_read import NOT_READ, file_kind
from cropland.data.skip_record import Skipped


@dataclass(frozen=True, slots=True)
class TreeFile:
    """A regular file under the root (perhaps through links inside it)."""

    path: Path  # where it was found, as the user sees it (links keep their own names)
    parts: tuple[str, ...]  # ``path`` relative to the root
    read_path: Path  # what to open: ``path`` itself (the same object) unless a link is on the way


@dataclass(frozen=True, slots=True)
class _Folder:
    path: Path
    parts: tuple[str, ...]
    real: Path  # its resolved path
    linked: bool  # reached through a link
    holders: frozenset[Path]  # resolved paths of itself and the folders above it


def walk_files(root: str | os.PathLike) -> tuple[list[TreeFile], list[Skipped]]:
    """Every regular file under ``root``, and every other entry skipped with a reason."""
    root = Path(root)
    real_root = Path(os.path.realpath(root))
    files: list[TreeFile] = []
    skipped: list[Skipped] = []
    linked_folders: dict[Path, Path] = {}  # resolved folder -> the link it was listed through
    stack = [_Folder(root, (), real_root, False, frozenset({real_root}))]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder.path) as entries:
                # In order, so that which of two links to one folder is followed does not
                # depend on the file system.
                names = sorted(entry.name for entry in entries)
        except OSError as error:
            skipped.append(Skipped(str(folder.path), "unreadable_folder", str(error)))
            continue
        below = []
        for name in names:
            entry = _look_at(folder, name, real_root, linked_folders)
            if isinstance(entry, TreeFile):
                files.append(entry)
            elif isinstance(entry, _Folder):
                below.append(entry)
            else:
                skipped.append(entry)
        stack.extend(reversed(below))
    return files, skipped


def _look_at(
    folder: _Folder, name: str, real_root: Path, linked_folders: dict[Path, Path]
) -> TreeFile | _Folder | Skipped:
    """One entry of ``folder``: a file to read, a folder to list, or why it is skipped."""
    path = folder.path / name
    try:
        info = os.lstat(path)
    except OSError as error:
        return Skipped(str(path), "unreadable", f"cannot look at it ({error})")
    real, is_link = folder.real / name, stat.S_ISLNK(info.st_mode)
    if is_link:
        target = _link_target(path, real_root)
        if isinstance(target, Skipped):
            return target
        info, real = target
    linked = folder.linked or is_link
    parts = (*folder.parts, name)
    if stat.S_ISREG(info.st_mode):
        return TreeFile(path, parts, real if linked else path)
    if not stat.S_ISDIR(info.st_mode):
        return Skipped(str(path), "special_file", f"{file_kind(info)}; {NOT_READ}")
    if is_link:
        problem = _folder_link_problem(path, real, folder, linked_folders)
        if problem is not None:
            return problem
        linked_folders[real] = path
    return _Folder(path, parts, real, linked, folder.holders | {real})


def _link_target(path: Path, real_root: Path) -> tuple[os.stat_result, Path] | Skipped:
    """What a link resolves to, if that is inside ``real_root``; else why it is skipped.

    ``os.stat`` follows the link without opening anything, so a link to a FIFO cannot stall.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return Skipped(str(path), "symlink_loop", "a link that never resolves: it loops")
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            detail = f"a link to {os.readlink(path)}, which does not exist"
            return Skipped(str(path), "broken_symlink", detail)
        return Skipped(str(path), "unreadable", f"cannot follow the link ({error})")
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(real_root):
        detail = (
            f"a link to {real}, outside src={real_root}; only files inside src are read: move "
            "or copy what it points to into src"
        )
        return Skipped(str(path), "symlink_outside_src", detail)
    return info, real


def _folder_link_problem(
    path: Path, real: Path, folder: _Folder, linked_folders: dict[Path, Path]
) -> Skipped | None:
    if real in folder.holders:
        detail = f"a link to {real}, a folder that holds the link; following it would never end"
        return Skipped(str(path), "symlink_loop", detail)
    earlier = linked_folders.get(real)
    if earlier is not None:
        detail = f"a link to {real}, already read through the link {earlier}; remove one of the two"
        return Skipped(str(path), "symlink_repeat", detail)
    return None
