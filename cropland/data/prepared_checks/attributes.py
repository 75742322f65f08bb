"""A prepared file's root attributes: JSON strings of bounded size, the required ones present,
each of its kind (class names, channel and sensor names, image size, minimum length, source)."""

from __future__ import annotations

import json
from typing import Any

import h5py

from cropland.data.channels import channel_names
from cropland.data.class_names import class_names_problem
from cropland.data.layout import CHANNELS, SENSORS
from cropland.data.prepared_checks.refusal import refuse

# Far above the dataset's 65-pixel patches; keeps one record's pixels a few megabytes.
MAX_IMAGE_SIZE = 1024
# Attributes hold short JSON (class and channel names, a path); far above any of them.
MAX_ATTRIBUTE_CHARACTERS = 1_000_000
# The source path is shown in error messages and advice.
MAX_SOURCE_CHARACTERS = 4096

# Root attributes every reader needs; the writer also records sensors, min_length, source and
# source_format, checked when present.
REQUIRED_ATTRIBUTES = ("classes", "channels", "image_size")


def checked_attributes(attrs: h5py.AttributeManager, path: object) -> dict:
    """The root attributes other than ``format`` and ``format_version``, decoded from JSON and
    checked: each a JSON string, the required ones present and of their kind."""
    values: dict[str, Any] = {}
    # The source first, so that a refusal of any other attribute can name it.
    for name in sorted(attrs, key=lambda name: name != "source"):
        if name in ("format", "format_version"):
            continue
        values[name] = _json_attribute(attrs, name, path, values.get("source"))
        if name == "source" and source_problem(values[name]):
            problem = source_problem(values[name])
            raise refuse(path, "attribute 'source'", problem, "the path it was prepared from")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in values]
    if missing:
        raise refuse(path, f"attribute {missing[0]!r}", "missing", "one (the writer records it)")
    source = values.get("source")
    for name, check in _ATTRIBUTE_CHECKS.items():
        if name in values:
            problem = check(values[name], values)
            if problem:
                found, expected = problem
                raise refuse(path, f"attribute {name!r}", found, expected, source)
    return values


def _json_attribute(
    attrs: h5py.AttributeManager, name: str, path: object, source: str | None
) -> Any:
    try:
        raw = attrs[name]
    except (OSError, RuntimeError, TypeError) as error:
        raise refuse(
            path,
            f"attribute {name!r}",
            f"unreadable ({type(error).__name__})",
            "a JSON string",
            source,
        ) from error
    if not isinstance(raw, str):
        raise refuse(
            path, f"attribute {name!r}", f"a {type(raw).__name__}", "a JSON string", source
        )
    if len(raw) > MAX_ATTRIBUTE_CHARACTERS:
        raise refuse(
            path,
            f"attribute {name!r}",
            f"{len(raw)} characters long",
            f"a JSON string of at most {MAX_ATTRIBUTE_CHARACTERS}",
            source,
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise refuse(
            path, f"attribute {name!r}", "not valid JSON", "a JSON string", source
        ) from error


def source_problem(source: Any) -> str | None:
    """Why ``source`` cannot be the recorded ``src`` (shown in messages); None when it can."""
    if not isinstance(source, str):
        return f"a {type(source).__name__}"
    if not source or len(source) > MAX_SOURCE_CHARACTERS or not source.isprintable():
        return f"{source[:64]!r} (empty, over {MAX_SOURCE_CHARACTERS} characters or unprintable)"
    return None


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _classes_problem(value: Any, _: dict) -> tuple[str, str] | None:
    problem = class_names_problem(value)
    if problem:
        return f"no usable list of class names ({problem})", 'a JSON list like ["BARLEY", "OAT"]'
    return None


def _channels_problem(value: Any, _: dict) -> tuple[str, str] | None:
    expected = f"a list of distinct channel names out of {', '.join(CHANNELS)}"
    if not isinstance(value, list):
        return f"a {type(value).__name__}", expected
    if not value:
        return "an empty list", expected
    unknown = [c for c in value if not isinstance(c, str) or c not in CHANNELS]
    if unknown:
        return f"a list holding {str(unknown[0])[:64]!r}", expected
    if len(set(value)) != len(value):
        return "a list naming a channel twice", expected
    return None


def _sensors_problem(value: Any, attrs: dict) -> tuple[str, str] | None:
    if not isinstance(value, list) or not all(isinstance(s, str) and s in SENSORS for s in value):
        return f"{str(value)[:100]!r}", f"a list of sensor names out of {', '.join(SENSORS)}"
    if channel_names(value) != attrs["channels"]:
        return f"{value}", "the sensors whose channels are the attribute 'channels'"
    return None


def _image_size_problem(value: Any, _: dict) -> tuple[str, str] | None:
    if not _is_whole_number(value) or not 1 <= value <= MAX_IMAGE_SIZE:
        return f"{str(value)[:64]!r}", f"a whole number of pixels, 1 to {MAX_IMAGE_SIZE}"
    return None


def _min_length_problem(value: Any, _: dict) -> tuple[str, str] | None:
    if not _is_whole_number(value) or value < 1:
        return f"{str(value)[:64]!r}", "a whole number of records, at least 1"
    return None


def _source_format_problem(value: Any, _: dict) -> tuple[str, str] | None:
    if not isinstance(value, str) or not value.isidentifier():
        return f"{str(value)[:64]!r}", "a format name such as 'png_tree'"
    return None


_ATTRIBUTE_CHECKS = {
    "classes": _classes_problem,
    "channels": _channels_problem,
    "sensors": _sensors_problem,
    "image_size": _image_size_problem,
    "min_length": _min_length_problem,
    "source_format": _source_format_problem,
}
