"""Writing files so that a reader never sees a half-written one, no run replaces another's, and
no temp file outlives us.

Every file a script writes goes through :func:`atomic_output`: the content is written into a
temporary file beside the destination, named ``.<stem>.cropland-tmp-<pid><suffix>`` so that it
is recognisable (and keeps its extension, which matplotlib, Pillow and exporters read), then
renamed into place. A whole tree of files is written the same way, into a temporary folder
(``atomic_output(path, folder=True)``). Unless the caller says it may overwrite, the rename
itself refuses a destination that another run put there meanwhile, so of two runs writing one
destination at once the second fails instead of silently replacing the first. The temp file or
folder is removed on errors, on Ctrl-C and on SIGTERM (see :func:`exit_cleanly_on_sigterm`);
one left by a process killed with SIGKILL is reported and removed by the next write into the
same folder.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cropland.errors import CroplandError

log = logging.getLogger(__name__)

TEMP_MARK = ".cropland-tmp-"
# ASCII digits of a plausible process id only: anyone can leave a file in a shared folder, and
# a crafted name must not reach os.kill as a huge or non-ASCII number.
_TEMP_NAME = re.compile(
    r"^\.(?P<stem>.*)" + re.escape(TEMP_MARK) + r"(?P<pid>[0-9]{1,10})(?P<suffix>(?![0-9]).*)$"
)

# What link(2) fails with on file systems without hard links (FAT, exFAT, some FUSE mounts).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS})
# What rename(2) of a folder fails with when something else already holds its new name.
_NAME_TAKEN = frozenset({errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR})
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that the interrupted work explains: its message says what was kept and how to go
    on (``cropland.cli`` prints it after ``interrupted;``)."""


@dataclass
class OutputRecord:
    """What one script run set out to write (``destinations``, in the order it checked or began
    them: the first is the output it was asked for) and put in place (``written``)."""

    destinations: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


_records: list[OutputRecord] = []


@contextmanager
def recording_outputs() -> Iterator[OutputRecord]:
    """Record the destinations checked by :func:`refuse_to_replace` or written by
    :func:`atomic_output` while inside, so that an interrupted run can say what it left (the
    script wrapper in ``cropland.cli`` does)."""
    record = OutputRecord()
    _records.append(record)
    try:
        yield record
    finally:
        _records.remove(record)


def _note(kind: str, path: Path) -> None:
    for record in _records:
        paths = getattr(record, kind)
        if path not in paths:
            paths.append(path)


def temp_path_for(path: str | os.PathLike) -> Path:
    """The temporary file (or folder) this process writes before ``path`` is renamed into place."""
    path = Path(path)
    return path.with_name(f".{path.stem}{TEMP_MARK}{os.getpid()}{path.suffix}")


def owner_of_temp(path: Path) -> int | None:
    """The process id in a temp file's name, or None for any other name."""
    match = _TEMP_NAME.match(path.name)
    return int(match["pid"]) if match else None


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: beyond any process id
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike, folders: bool = False) -> list[Path]:
    """Remove the temp files in ``folder`` left by processes that no longer run (killed with
    SIGKILL, or a crashed machine), with a warning naming each; return them. Temp folders (of
    whole trees) only with ``folders``: a writer of files never deletes a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.iterdir():
        pid = owner_of_temp(candidate)
        if pid is None or _process_alive(pid):
            continue
        if candidate.is_dir() and not candidate.is_symlink() and not folders:
            continue
        log.warning(
            "Removing %s, a temporary file left by process %d, which has ended", candidate, pid
        )
        _remove(candidate)
        removed.append(candidate)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_output(
    path: str | os.PathLike, *, folder: bool = False, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write into; on success rename it to ``path``.

    On any exception (KeyboardInterrupt and SystemExit included) the temp file is removed and
    ``path`` is left as it was. Stale temp files in the same folder are cleaned up first.

    Without ``overwrite`` an existing ``path`` is never replaced: one there from the start is
    refused before the caller writes anything, and one that appears while it writes (another
    run writing the same destination) makes the rename fail, atomically, with the temp removed.
    Both raise :class:`CroplandError`. With ``overwrite`` the rename replaces ``path`` (a file
    with ``os.replace``, a folder whole).

    With ``folder``, the temporary path is a new, empty folder, and stale temp folders are
    cleaned up too. An empty folder at ``path`` counts as absent: it holds nothing to lose, and
    rename(2) replaces a folder only when it is empty.
    """
    path = Path(path)
    if not overwrite and _taken(path, folder):
        raise CroplandError(
            f"{path} already exists (another run writing the same place?); it is left as it is "
            "and nothing of this run's was written there: write elsewhere, or remove it and run "
            "again"
        )
    _note("destinations", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, folders=folder)
    tmp = temp_path_for(path)
    if folder:
        tmp.mkdir()
    try:
        yield tmp
        if overwrite:
            _replace(tmp, path, folder)
        else:
            _rename_unless_taken(tmp, path, folder)
        _note("written", path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def _taken(path: Path, folder: bool) -> bool:
    """Whether something is at ``path`` that writing there would replace."""
    if not os.path.lexists(path):
        return False
    return not (folder and path.is_dir() and not path.is_symlink() and not any(path.iterdir()))


def _replace(new: Path, path: Path, folder: bool) -> None:
    if folder and path.exists():
        _replace_folder(new, path)
    else:
        os.replace(new, path)


def _rename_unless_taken(tmp: Path, path: Path, folder: bool) -> None:
    """Rename ``tmp`` to ``path`` in one step that fails if ``path`` exists by then."""
    try:
        if folder:
            try:
                os.rename(tmp, path)  # fails on a file or a folder with anything in it
            except OSError as error:
                if error.errno in _NAME_TAKEN:
                    raise FileExistsError(error.errno, error.strerror, str(path)) from error
                raise
        else:
            _rename_file_unless_taken(tmp, path)
    except FileExistsError as error:
        raise CroplandError(
            f"{path} appeared while this run was writing it (another run writing the same "
            "place?); it is left as it is and nothing of this run's was written there: write "
            "elsewhere, or remove it and run again"
        ) from error


def _rename_file_unless_taken(tmp: Path, path: Path) -> None:
    """A hard link, which link(2) never makes over an existing name, then the temp name removed;
    where the file system has no hard links, renameat2(2) with RENAME_NOREPLACE."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        _renameat2_no_replace(tmp, path)
        return
    os.unlink(tmp)


def _renameat2_no_replace(tmp: Path, path: Path) -> None:
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library without it
        code = errno.ENOSYS
    elif renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_NOREPLACE):
        code = ctypes.get_errno()
    else:
        return
    if code == errno.EEXIST:
        raise FileExistsError(code, os.strerror(code), str(path))
    if code in (errno.EINVAL, errno.ENOSYS):  # a file system or kernel without the flag
        raise CroplandError(
            f"cannot write {path} without risking to replace a file another run puts there: "
            "its file system has neither hard links nor a rename that refuses to replace; "
            "write to another file system, or set overwrite=true"
        )
    raise OSError(code, os.strerror(code), str(path))


def _replace_folder(new: Path, path: Path) -> None:
    """Rename the folder ``new`` to ``path``, where one already is (a rename cannot replace a
    folder that holds files).

    The old one is moved aside under a temp name first, so that a process killed between the
    two renames leaves only folders that the next write beside ``path`` removes.
    """
    old = temp_path_for(path.with_name(path.name + ".old"))
    os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old)


def refuse_to_replace(
    outputs: Mapping[str, Path], inputs: Mapping[str, Path], overwrite: bool
) -> None:
    """Raise before any work when a file to write is one of ``inputs`` (always), already exists
    (unless ``overwrite``), or cannot be written (no file can be made in its folder). Keys are
    what the message calls each file: the first output is the one the user set (``"output"``),
    the others are written beside it."""
    if not isinstance(overwrite, bool):
        raise CroplandError(f"overwrite={overwrite!r}: expected true or false")
    chosen_key, chosen = next(iter(outputs.items()))
    for output_key, output in outputs.items():
        for input_key, source in inputs.items():
            if _same_file(output, source):
                what = f"{chosen_key}={chosen}" if output == chosen else f"{output_key}, {output},"
                raise CroplandError(
                    f"{what} is {input_key}={source} itself, which writing there would destroy "
                    f"(overwrite=true or not); choose another {chosen_key}"
                )
    existing = [path for path in outputs.values() if path.exists()]
    if existing and not overwrite:
        beside = " and ".join(str(path) for path in existing if path != chosen)
        if chosen not in existing:
            what = f"{beside}, written beside {chosen_key}={chosen}, already exists"
        elif beside:
            what = f"{chosen_key}={chosen} already exists, and so does {beside} beside it"
        else:
            what = f"{chosen_key}={chosen} already exists"
        them = "it" if len(existing) == 1 else "them"
        raise CroplandError(
            f"{what}; set overwrite=true to replace {them}, or choose another {chosen_key}"
        )
    for folder in dict.fromkeys(path.parent for path in outputs.values()):
        _refuse_unwritable(folder, f"{chosen_key}={chosen}", chosen_key)
    _note("destinations", chosen)


def _refuse_unwritable(folder: Path, what: str, key: str) -> None:
    """Raise unless a file can be made in ``folder``: one is made there and dropped, since only
    trying tells (permissions, a read-only mount, a pseudo file system such as /proc). It has
    no name where the system allows (O_TMPFILE), so nothing is left even by SIGKILL. A folder
    still to be made is tried in the nearest one that exists, where it would be made."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CroplandError(
            f"{what} cannot be written: {existing} is not a folder, so {folder} cannot be "
            f"made; choose another {key}"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise CroplandError(
            f"{what} cannot be written: no file can be made in {existing} ({error.strerror}); "
            f"choose another {key}, in a folder you can write to"
        ) from error


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once links are resolved, or hard
    links to one file."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def write_text_atomic(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, data: dict, *, overwrite: bool = False) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`atomic_output`)."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n", overwrite=overwrite)


def save_figure_atomic(
    figure, path: str | os.PathLike, *, overwrite: bool = False, **savefig_options
) -> None:
    """Save a matplotlib figure to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, **savefig_options)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so that ``finally`` blocks (temp-file removal) run,
    as they do for Ctrl-C. Python's default for SIGTERM ends the process on the spot."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, frame) -> None:
    print(f"Stopped by signal {signum}; removing temporary files", file=sys.stderr)
    raise SystemExit(128 + signum)
