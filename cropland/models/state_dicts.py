"""Comparing a state dict read from someone else's file with the one a network expects, before
the network is built for real or the weights are copied into it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

# Enough entries of each kind to say in one line what does not fit.
SHOWN = 3


def state_dict_mismatches(
    found: Mapping[Any, Any],
    expected: Mapping[str, Tensor],
    name: Callable[[str], str] = str,
) -> list[str]:
    """What keeps ``found`` from loading into a network whose state dict is ``expected`` (a
    network on the meta device will do: only shapes and dtypes are read): missing and unexpected
    keys, values that are not dense CPU tensors, other shapes, an integer tensor where a floating
    one belongs or another integer type. The first few of each, named by ``name(key)`` with their
    shapes; empty when everything fits."""

    def shown(key: Any, value: Any) -> str:
        return f"{_key(key, name)} {_shape(value)}"

    missing = [shown(key, value) for key, value in expected.items() if key not in found]
    unexpected = [key for key in found if key not in expected]
    wrong = []
    for key, value in expected.items():
        problem = _value_problem(found[key], value) if key in found else None
        if problem:
            wrong.append(f"{name(key)} {problem}")
    problems = []
    if missing:
        problems.append("missing " + _first(missing))
    if unexpected:
        unexpected[:SHOWN] = [shown(key, found[key]) for key in unexpected[:SHOWN]]
        problems.append("unexpected " + _first(unexpected))
    if wrong:
        problems.append(_first(wrong, "; "))
    return problems


def non_finite_entries(state: Mapping[str, Tensor]) -> list[str]:
    """The keys of the floating tensors of ``state`` holding NaN or infinite values. Run after
    :func:`state_dict_mismatches` found nothing: the shapes are then the network's own, so the
    check costs no more memory than the largest weight."""
    return [
        key
        for key, value in state.items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def _value_problem(value: Any, expected: Tensor) -> str | None:
    if not isinstance(value, Tensor):
        return f"is a {type(value).__name__}, not a tensor"
    if value.layout != torch.strided or value.device.type != "cpu":
        return f"is a {value.layout} tensor on {value.device.type}, not a dense CPU tensor"
    if value.shape != expected.shape:
        return f"has shape {tuple(value.shape)}, expected {tuple(expected.shape)}"
    # Weights trained in another floating precision load by casting; integers do not.
    if expected.is_floating_point() != value.is_floating_point() or (
        not expected.is_floating_point() and value.dtype != expected.dtype
    ):
        return f"is {value.dtype}, expected {expected.dtype}"
    return None


def _key(key: Any, name: Callable[[str], str]) -> str:
    """A key as the message shows it: a crafted one may be long or hold line breaks."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 200:
        return name(key)
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else f"(a {type(value).__name__})"


def _first(entries: list[str], separator: str = ", ") -> str:
    shown = separator.join(entries[:SHOWN])
    return shown if len(entries) <= SHOWN else f"{shown} and {len(entries) - SHOWN} more"
