"""Imported first by the scripts: a Ctrl-C while one still starts (Python importing torch and
Lightning, Hydra composing the config: seconds) ends it with one line and status 130, as it
does once the work has begun (:func:`cropland.cli.exit_on_user_error` takes over then). A
side effect on import, so it is never imported by the library itself."""

from __future__ import annotations

import signal
import sys

from cropland.errors import INTERRUPTED_STATUS


def _interrupted_while_starting(signum: int, frame: object) -> None:
    print("interrupted while starting; nothing written", file=sys.stderr)
    raise SystemExit(INTERRUPTED_STATUS)


signal.signal(signal.SIGINT, _interrupted_while_starting)
