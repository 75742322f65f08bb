"""How a refusal of a prepared file is worded: one line naming the file, the dataset or
attribute, what was found and what was expected, ending with the command that makes the file
again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cropland.errors import CroplandError


class PreparedFileError(CroplandError):
    """A file that is not a readable prepared dataset; the message says what to do."""


def prepare_again(path: object, source: str | None) -> str:
    """The advice that ends every refusal of a prepared file: make it again from its source."""
    source = source or "<the dataset tree or published .hdf5>"
    return f"prepare it again: python scripts/prepare.py src={source} dst={path} overwrite=true"


def refuse(
    path: object, what: str, found: str, expected: str, source: str | None = None
) -> PreparedFileError:
    """The error saying that ``what`` in the file at ``path`` is ``found``, not ``expected``."""
    return PreparedFileError(
        f"{path}: {what} is {found}, expected {expected}; {prepare_again(path, source)}"
    )


def as_text(name: str) -> str:
    """A name from the file, as it can stand in a one-line message."""
    return name if name.isprintable() and len(name) <= 200 else repr(name[:200])


def shown(value: Any) -> str:
    """A table value as a message shows it: strings quoted, numbers plain."""
    value = value.item() if isinstance(value, np.generic) else value
    return repr(value) if isinstance(value, str) else str(value)


def first(bad: np.ndarray) -> int:
    """The index of the first true entry of ``bad`` (which has one)."""
    return int(np.flatnonzero(bad)[0])


def refuse_first_bad(
    bad: np.ndarray,
    path: object,
    column: str,
    values: np.ndarray,
    expected: str | Callable[[int], str],
    source: str | None,
) -> None:
    """Raise the error for the first row of ``column`` where ``bad`` holds, if any;
    ``expected`` may depend on that row."""
    if bad.any():
        index = first(bad)
        wanted = expected(index) if callable(expected) else expected
        raise refuse(path, f"{column}[{index}]", f"{int(values[index])}", wanted, source)
