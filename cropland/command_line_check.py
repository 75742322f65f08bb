"""Refuse a mistyped setting before Hydra starts: one line naming the nearest valid key or option.

Hydra answers ``trainer.max_epoch=2`` with advice to add it (``+trainer.max_epoch=2``), which
the Trainer then rejects with a traceback after a run folder was made. The scripts instead
compose their config once with the command line's settings (a sweep's first value stands for
the sweep) and, when that fails, say which key or group option was meant and exit with status 2.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"

# Hydra flags that take no value, and those that take one; the rest of argv is settings.
_FLAGS = {"-m", "--multirun", "--resolve", "--shell-completion", "-sc"}
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p"}
# Flags after which Hydra prints something instead of running, or reads another config.
_NOT_CHECKED = {
    "--help", "-h", "--hydra-help", "--version", "--info", "-i",
    "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
    "--experimental-rerun",
}  # fmt: skip
_COULD_NOT_OVERRIDE = re.compile(r"Could not override '([^']+)'")


def refuse_unknown_settings(config_name: str, argv: Sequence[str] | None = None) -> None:
    """Exit with status 2 and one line on stderr when the command line's settings do not
    compose with ``conf/<config_name>.yaml``; return quietly when they do (Hydra then runs)."""
    settings = _settings_in(sys.argv[1:] if argv is None else argv)
    if not settings:
        return
    try:
        overrides = [_one_value(override) for override in _parse(settings)]
    except OverrideParseException as error:
        _refuse(f"cannot read the setting: {_first_line(error)}")
    overrides = [override for override in overrides if override is not None]
    try:
        _compose(config_name, overrides)
    except MissingConfigException as error:
        _refuse(_unknown_option(error, config_name))
    except ConfigCompositionException as error:
        _refuse(_unknown_key(error, config_name, overrides))


def _settings_in(argv: Sequence[str]) -> list[str] | None:
    settings: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument.split("=", 1)[0] in _NOT_CHECKED:
            return None
        if argument in _FLAGS_WITH_VALUE:
            next(arguments, None)
        elif argument in _FLAGS or argument.startswith("-"):
            continue
        else:
            settings.append(argument)
    return settings


def _parse(settings: list[str]) -> list[Override]:
    return OverridesParser.create().parse_overrides(settings)


def _one_value(override: Override) -> str | None:
    """The override as one setting: a sweep's first value, an interval's lower end; None for
    what only a sweeper can expand (a glob of group options)."""
    if not override.is_sweep_override():
        return override.input_line
    if override.is_interval_sweep():
        value = str(override.value().start)
    else:
        try:
            value = next(iter(override.sweep_string_iterator()))
        except (StopIteration, HydraException):
            return None
    return f"{override.get_key_element()}={value}"


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name="check"):
        return compose(config_name, overrides=overrides, return_hydra_config=True)


def _unknown_option(error: MissingConfigException, config_name: str) -> str:
    missing = error.missing_cfg_file or ""
    group, _, option = missing.rpartition("/")
    options = list(error.options or [])
    if not group or not options:
        return f"{_first_line(error)} ({_help_hint(config_name)})"
    nearest = difflib.get_close_matches(option, options, n=1)
    meant = f"did you mean {group}={nearest[0]}? " if nearest else ""
    return (
        f"{group} has no option {option!r}; {meant}the options are {', '.join(options)} "
        f"({_help_hint(config_name)})"
    )


def _unknown_key(error: ConfigCompositionException, config_name: str, overrides: list[str]) -> str:
    match = _COULD_NOT_OVERRIDE.search(str(error))
    if match is None:  # Hydra's own advice (drop a +, an existing key to delete) is one step
        return " ".join(str(error).strip().splitlines()[:2])
    key = match.group(1)
    others = [line for line in overrides if _key_of(line) != key]
    try:
        keys = sorted(_keys_of(_compose(config_name, others)))
    except ConfigCompositionException:
        keys = []
    nearest = difflib.get_close_matches(key, keys, n=1)
    meant = f"; did you mean {nearest[0]}?" if nearest else ""
    return f"{config_name} has no setting {key!r}{meant} ({_help_hint(config_name)})"


def _key_of(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


def _keys_of(cfg: DictConfig) -> Iterator[str]:
    tree = OmegaConf.to_container(cfg, resolve=False)
    tree.pop("hydra", None)
    yield from _dotted_keys(tree, "")


def _dotted_keys(tree: dict, prefix: str) -> Iterator[str]:
    for name, child in tree.items():
        yield f"{prefix}{name}"
        if isinstance(child, dict):
            yield from _dotted_keys(child, f"{prefix}{name}.")


def _help_hint(config_name: str) -> str:
    return (
        f"--help lists the groups and common settings; --cfg job prints every key of {config_name}"
    )


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
