"""What a list of class names read from a file someone else made must be before it is used:
the names become CSV columns (``p_<name>``), raster band descriptions and plot labels."""

from __future__ import annotations

from typing import Any

# Enough for any crop name and far from what would bloat a CSV header or a raster's metadata.
MAX_CLASS_NAME_LENGTH = 64
# Far above any crop-type legend; a crafted file with millions would cost minutes and gigabytes.
MAX_CLASSES = 1000
# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_STARTS = ("=", "+", "-", "@")


def class_names_problem(names: Any) -> str | None:
    """Why ``names`` cannot serve as class names, in a few words; None when it can: a list of
    1 to MAX_CLASSES distinct, non-empty strings of printable characters, at most
    MAX_CLASS_NAME_LENGTH long, none starting like a spreadsheet formula."""
    if isinstance(names, str) or not isinstance(names, list | tuple):
        return f"a {type(names).__name__}, expected a list of class names"
    if not 1 <= len(names) <= MAX_CLASSES:
        return f"{len(names)} class names, expected 1 to {MAX_CLASSES}"
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not isinstance(name, str):
            return f"entry {index} is a {type(name).__name__}, expected a string"
        shown = repr(name[:MAX_CLASS_NAME_LENGTH])
        if not name or len(name) > MAX_CLASS_NAME_LENGTH:
            return f"entry {index} ({shown}) has {len(name)} characters, expected 1 to " + str(
                MAX_CLASS_NAME_LENGTH
            )
        if not name.isprintable() or name != name.strip():
            return f"entry {index} ({shown}) holds control characters or surrounding spaces"
        if name.startswith(_FORMULA_STARTS):
            return f"entry {index} ({shown}) starts like a spreadsheet formula"
        if name in seen:
            return f"entry {index} ({shown}) repeats an earlier class name"
        seen.add(name)
    return None
