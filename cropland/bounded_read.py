"""Reading a file someone else may have made: only a regular file, and only so many bytes.

A path can name a FIFO (opening it waits for a writer forever), a device (``/dev/zero`` never
ends) or a file far larger than what it should hold; a JSON file can hold ``NaN``, an integer of
thousands of digits (Python refuses to convert it, mid-parse) or nesting deep enough to exhaust
the stack. :func:`read_regular_file` and :func:`read_json` turn each of these into an
:class:`UnreadableFile` with a short reason and a one-line detail, for the caller to report.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

# Integers in a file of ours are counts and ids: none has more digits.
MAX_INT_DIGITS = 20

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)

NOT_READ = "only regular files are read"


class UnreadableFile(Exception):
    """A file that was not read, or not parsed; ``reason`` is a short key for reports:
    ``special_file``, ``too_large``, ``unreadable`` or ``not_json``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def file_kind(info: os.stat_result) -> str:
    """What a file that is not a regular file is, in words (``a FIFO (named pipe)``)."""
    return next((kind for test, kind in _KINDS if test(info.st_mode)), "not a regular file")


def read_regular_file(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``.

    The file's kind and size are looked at before it is opened, and again on the open file (it
    may have been replaced meanwhile); it is opened non-blocking, so that even a FIFO put there
    in between cannot stall. Raises :class:`UnreadableFile` (``special_file``, ``too_large``,
    ``unreadable``).
    """
    try:
        _check_regular(os.stat(path), max_bytes)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as file:
            _check_regular(os.fstat(file.fileno()), max_bytes)
            data = file.read(max_bytes + 1)  # the size said no more, but files can grow
    except OSError as error:
        raise UnreadableFile("unreadable", f"cannot read the file ({error})") from error
    if len(data) > max_bytes:
        raise UnreadableFile("too_large", _too_large(max_bytes))
    return data


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("special_file", f"{file_kind(info)}; {NOT_READ}")
    if info.st_size > max_bytes:
        raise UnreadableFile("too_large", _too_large(max_bytes, info.st_size))


def _too_large(max_bytes: int, size: int | None = None) -> str:
    found = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes"
    return f"{found}, over the {max_bytes} bytes read at most"


class _LongInteger(ValueError):
    pass


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _LongInteger(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} expected)")
    return int(text)


def read_json(path: str | os.PathLike, max_bytes: int) -> Any:
    """The JSON value in ``path``, read with :func:`read_regular_file`; integers of more than
    :data:`MAX_INT_DIGITS` digits are refused. ``NaN`` and ``Infinity`` are read as floats: the
    caller checks the values it uses. Raises :class:`UnreadableFile`."""
    data = read_regular_file(path, max_bytes)
    try:
        return json.loads(data.decode("utf-8"), parse_int=_integer)
    except _LongInteger as error:
        raise UnreadableFile("not_json", f"it holds {error}") from error
    except UnicodeDecodeError as error:
        raise UnreadableFile("not_json", "not UTF-8 text") from error
    except json.JSONDecodeError as error:
        raise UnreadableFile("not_json", f"not JSON ({error})") from error
    except (RecursionError, ValueError) as error:
        raise UnreadableFile("not_json", f"not JSON ({error.__class__.__name__})") from error
