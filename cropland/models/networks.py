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


def find_hydra_keys(value: Any, where: str) -> list[str]:
    """The dotted places under ``where`` that hold a Hydra key or a value that is not plain data
    (a checkpoint loaded with ``weights_only=True`` can still hold tensors, tuples, ...)."""
    if isinstance(value, Mapping):
        found = []
        for key, item in value.items():
            place = f"{where}.{key}"
            if key in HYDRA_KEYS:
                found.append(place)
            else:
                found.extend(find_hydra_keys(item, place))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in find_hydra_keys(item, f"{where}[{i}]")]
    if isinstance(value, _PLAIN):
        return []
    return [f"{where} (a {type(value).__name__}, not plain data)"]


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
