"""Shared behaviour of the `scripts/*.py` entry points."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from cropland.errors import INTERRUPTED_STATUS, CroplandError
from cropland.io import Interrupted, OutputRecord, exit_cleanly_on_sigterm, recording_outputs
from cropland.refused_run_folder import remove_refused_run_folder

T = TypeVar("T")


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Report a :class:`CroplandError` as one clear line on stderr and exit with status 2.

    Settings left at ``???`` in the config are reported the same way, before the work starts.
    Bugs still raise with a full traceback; only errors the user can fix are shortened.
    Ctrl-C ends the script with one line saying what it left (temporary files are removed on
    the way out) and status 130; SIGTERM ends it like Ctrl-C does, with status 143.
    """

    @functools.wraps(main)
    def wrapper(cfg: DictConfig, *args, **kwargs):
        # From here on Ctrl-C is Python's KeyboardInterrupt again, which the work cleans up on.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        exit_cleanly_on_sigterm()
        with recording_outputs() as outputs:
            try:
                _require_settings(cfg)
                return main(cfg, *args, **kwargs)
            except KeyboardInterrupt as interrupt:
                print(f"interrupted; {_what_was_left(interrupt, outputs, cfg)}", file=sys.stderr)
                sys.exit(INTERRUPTED_STATUS)
            except Exception as error:
                user_error = _user_error_in(error)
                if user_error is None:
                    raise
                print(f"error: {user_error}", file=sys.stderr)
                if _in_multirun():
                    raise  # Hydra records the job as failed and runs the others
                remove_refused_run_folder()
                sys.exit(2)

    return wrapper


def _what_was_left(interrupt: KeyboardInterrupt, outputs: OutputRecord, cfg: DictConfig) -> str:
    """What an interrupted script leaves: the work's own account when it gives one (training
    names its checkpoints), else the files it put in place (those it wrote into a temporary
    folder are gone), else where it was to write: its output, or its run folder."""
    if isinstance(interrupt, Interrupted) and str(interrupt):
        return str(interrupt)
    written = [str(path) for path in outputs.written if os.path.lexists(path)]
    if written:
        return f"wrote {', '.join(written)} before it stopped; nothing else was written"
    if outputs.destinations:
        return f"nothing written at {outputs.destinations[0]}"
    run_folder = OmegaConf.select(cfg, "paths.output_dir", throw_on_resolution_failure=False)
    return f"nothing written in the run folder {run_folder}" if run_folder else "nothing written"


def _user_error_in(error: BaseException | None) -> CroplandError | None:
    """The CroplandError behind ``error``: Hydra's instantiate re-raises errors of the objects it
    builds ``from`` them. Only explicit causes count, so a bug raised while handling a user error
    still shows its traceback."""
    while error is not None:
        if isinstance(error, CroplandError):
            return error
        error = error.__cause__
    return None


def keys_given_on_command_line(group: str) -> set[str] | None:
    """The keys of config group ``group`` that this run's command line sets (``data.path=x``
    gives ``{"path"}``); None when it chooses the group itself (``data=synthetic``), which sets
    every key. Empty outside a Hydra run (a test calling a pipeline function)."""
    try:
        overrides = HydraConfig.get().overrides.task
    except ValueError:
        return set()
    keys: set[str] = set()
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        name = override.key_or_group
        if name == group:
            return None
        if name.startswith(group + "."):
            keys.add(name[len(group) + 1 :].split(".")[0])
    return keys


def _in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # no Hydra run around this call (a test calling the function)
        return False


def _require_settings(cfg: DictConfig) -> None:
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        example = " ".join(f"{key}=..." for key in missing)
        raise CroplandError(
            f"missing {' and '.join(missing)}; give a value on the command line: {example}"
        )
