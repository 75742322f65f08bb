"""Building a network from a config that may come from a file someone else made.

A checkpoint's hyperparameters are data. Building its network with Hydra's recursive
``instantiate`` would let any nested ``_target_`` run code (``builtins.open`` emptying a file,
``os.system``), so networks are built here instead: ``_target_`` must name one of the classes in
:data:`NETWORKS` exactly, every other value must be plain data (numbers, strings, booleans,
None, lists and dicts of those) with no Hydra key anywhere, and the class is called directly.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from torch import nn

from cropland.errors import CroplandError

# The networks a config or checkpoint may name, by their exact dotted path. Only these are ever
# imported from a name: the module is the one the name says, loaded on first use.
NETWORKS: tuple[str, ...] = (
    "cropland.models.convlstm.ConvLSTMClassifier",
    "cropland.models.single_date.SingleDateClassifier",
    "cropland.models.tempcnn.TempCNNClassifier",
    "cropland.models.lrcn.LRCNClassifier",
    "cropland.models.conv3d.Conv3DClassifier",
    "cropland.models.tae.LTAEClassifier",
)

# Keys through which Hydra's instantiate would call or reshape something.
HYDRA_KEYS = ("_target_", "_args_", "_partial_", "_recursive_", "_convert_")

_PLAIN = (bool, int, float, str, type(None))

# Bounds on settings read from a file, far beyond any real config (the deepest setting of a
# checkpoint is a list in the net's settings, its longest lists hold one entry per class and
# its strings are names), so that a crafted file cannot make the walk below, or the code that
# reads the settings after it, take minutes or gigabytes.
MAX_DEPTH = 16
MAX_VALUES = 100_000
MAX_STRING_LENGTH = 1_000
MAX_KEY_LENGTH = 100
# Enough places to say in one line what is wrong.
MAX_FOUND = 5


def find_hydra_keys(value: Any, where: str) -> list[str]:
    """The first few dotted places under ``where`` that hold a Hydra key or a value that is not
    plain data (a checkpoint loaded with ``weights_only=True`` can still hold tensors, tuples,
    ...), or that make the settings larger than any config: nested deeper than MAX_DEPTH, more
    than MAX_VALUES values, a string over MAX_STRING_LENGTH characters, a key that is not a short
    printable name. Walked with a stack, not recursion: a crafted file can nest thousands deep."""
    found: list[str] = []
    pending = [(where, value, 0)]
    listed = 1  # values met so far, counted before their containers are opened
    while pending and len(found) < MAX_FOUND:
        place, item, depth = pending.pop()
        if isinstance(item, Mapping | list):
            if depth == MAX_DEPTH:
                found.append(f"{place} (nested deeper than {MAX_DEPTH})")
                continue
            listed += len(item)
            if listed > MAX_VALUES:
                found.append(f"{where} (more than {MAX_VALUES} values)")
                break
            pending.extend(reversed(_children(item, place, depth + 1, found)))
        elif isinstance(item, str) and len(item) > MAX_STRING_LENGTH:
            found.append(f"{place} (a string of {len(item)} characters)")
        elif not isinstance(item, _PLAIN):
            found.append(f"{place} (a {type(item).__name__}, not plain data)")
    return found[:MAX_FOUND]


def _children(item: Mapping | list, place: str, depth: int, found: list[str]) -> list:
    """The entries of a dict or list to walk next, as (place, value, depth); the keys that may
    not be walked (Hydra's, or no short printable name) go into ``found``."""
    if isinstance(item, list):
        return [(f"{place}[{i}]", child, depth) for i, child in enumerate(item)]
    children = []
    for key, child in item.items():
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            found.append(f"{place} (a key {_shown(key)} that is not a short printable name)")
        elif key in HYDRA_KEYS:
            found.append(f"{place}.{key}")
        else:
            children.append((f"{place}.{key}", child, depth))
    return children


def _shown(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def network_class(config: Any, where: str) -> type[nn.Module]:
    """The network class ``config`` names, after checking that nothing else in it could run
    code. ``where`` names the config (``model.net`` or ``<file>: hyper_parameters.net``) in the
    one-line error raised otherwise."""
    if not isinstance(config, Mapping):
        raise CroplandError(f"{where} must be a mapping with _target_, got {type(config).__name__}")
    target = config.get("_target_")
    if not isinstance(target, str) or target not in NETWORKS:
        raise CroplandError(
            f"{where}._target_={target!r} is not one of cropland's models "
            f"({', '.join(NETWORKS)}); refusing to build it"
        )
    arguments = {key: value for key, value in config.items() if key != "_target_"}
    suspicious = find_hydra_keys(arguments, where)
    if suspicious:
        raise CroplandError(
            f"{where} holds {', '.join(suspicious)}: a network's settings must be plain values, "
            "never objects or code to build; refusing to build it"
        )
    module, name = target.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def build_network(config: Mapping, where: str, **extra: Any) -> nn.Module:
    """The network ``config`` describes (see :func:`network_class`), called with its plain
    settings and ``extra`` (``in_channels``, ``num_classes``)."""
    cls = network_class(config, where)
    arguments = {key: value for key, value in config.items() if key != "_target_"}
    try:
        return cls(**arguments, **extra)
    except TypeError as error:
        raise CroplandError(
            f"{where} does not fit {cls.__name__} ({error}); check the keys under {where}"
        ) from error
