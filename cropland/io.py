"""Writing files so that a reader never sees a half-written one, and no temp file outlives us.

Every file a script writes goes through :func:`atomic_output`: the content is written into a
temporary file beside the destination, named ``.<stem>.cropland-tmp-<pid><suffix>`` so that it
is recognisable (and keeps its extension, which matplotlib, Pillow and exporters read), then
renamed into place. A whole tree of files is written the same way, into a temporary folder
(``atomic_output(path, folder=True)``). The temp file or folder is removed on errors, on Ctrl-C
and on SIGTERM (see :func:`exit_cleanly_on_sigterm`); one left by a process killed with SIGKILL
is reported and removed by the next write into the same folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from cropland.errors import CroplandError

log = logging.getLogger(__name__)

TEMP_MARK = ".cropland-tmp-"
_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)" + re.escape(TEMP_MARK) + r"(?P<pid>\d+)(?P<suffix>.*)$")


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
    except ProcessLookupError:
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
def atomic_output(path: str | os.PathLike, *, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write into; on success rename it to ``path``.

    On any exception (KeyboardInterrupt and SystemExit included) the temp file is removed and
    ``path`` is left as it was. Stale temp files in the same folder are cleaned up first.

    With ``folder``, the temporary path is a new, empty folder, and stale temp folders are
    cleaned up too. A folder already at ``path`` is replaced whole: the caller decides before
    whether it may be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, folders=folder)
    tmp = temp_path_for(path)
    if folder:
        tmp.mkdir()
    try:
        yield tmp
        if folder and path.exists():
            _replace_folder(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


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
    """Raise before any work when a file to write is one of ``inputs`` (always), or already
    exists (unless ``overwrite``). Keys are what the message calls each file: the first output
    is the one the user set (``"output"``), the others are written beside it."""
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
    if not existing or overwrite:
        return
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


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once links are resolved, or hard
    links to one file."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`atomic_output`)."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def save_figure_atomic(figure, path: str | os.PathLike, **savefig_options) -> None:
    """Save a matplotlib figure to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        figure.savefig(tmp, **savefig_options)


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so that ``finally`` blocks (temp-file removal) run,
    as they do for Ctrl-C. Python's default for SIGTERM ends the process on the spot."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, frame) -> None:
    print(f"Stopped by signal {signum}; removing temporary files", file=sys.stderr)
    raise SystemExit(128 + signum)
