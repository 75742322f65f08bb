"""Shared behaviour of the `scripts/*.py` entry points."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from cropland.errors import CroplandError

T = TypeVar("T")


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Report a :class:`CroplandError` as one clear line on stderr and exit with status 2.

    Bugs still raise with a full traceback; only errors the user can fix are shortened.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except CroplandError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
