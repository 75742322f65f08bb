"""Errors a user can act on. Scripts print their message, without a traceback, and exit 2."""

from __future__ import annotations

import re

# The shell's status for a process ended by Ctrl-C (128 + SIGINT).
INTERRUPTED_STATUS = 130


class CroplandError(ValueError):
    """Bad input or configuration; the message names the file or key, what was expected and
    what to do."""


def short_reason(error: BaseException) -> str:
    """One line saying why ``error`` happened, for a CroplandError message. torch.load's long
    advice on loading unsafely is dropped, keeping the global or operand it stumbled on."""
    message = str(error).strip()
    match = re.search(r"Unsupported global: GLOBAL \S+|Unsupported operand \d+", message)
    if match:
        return match.group(0)
    first = message.splitlines()[0] if message else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
