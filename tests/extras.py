"""Tests that need an optional extra of pyproject.toml (onnx for export, scikit-learn for the
baselines, Hydra's launcher and sweeper plugins, MkDocs): skipped, naming the extra and how to
install it, where the extra is missing. scripts/setup.sh installs every extra, and CI sets
``CROPLAND_REQUIRE_EXTRAS=1`` (see ``conftest.py``) so that a missing one fails the run there
instead of skipping tests unseen.

The extras and their packages are read from pyproject.toml, so a new extra needs no entry here.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import pytest

from tests.script_runs import PROJECT_ROOT

# Set to 1 where every extra must be installed (CI): pytest then refuses to start without.
REQUIRE_EXTRAS = "CROPLAND_REQUIRE_EXTRAS"


@cache
def extras() -> dict[str, tuple[str, ...]]:
    """Each extra of pyproject.toml and the distributions it installs."""
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as handle:
        declared = tomllib.load(handle)["project"]["optional-dependencies"]
    # A requirement starts with its distribution's name: "mkdocstrings[python]>=0.26".
    return {
        extra: tuple(re.match(r"[A-Za-z0-9._-]+", r).group() for r in requirements)
        for extra, requirements in declared.items()
    }


def missing_from(extra: str) -> list[str]:
    """The distributions of ``extra`` that this Python does not have installed."""
    if extra not in extras():
        raise ValueError(f"no extra {extra!r} in pyproject.toml; it has {', '.join(extras())}")
    missing = []
    for name in extras()[extra]:
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


def skip_reason(extra: str, missing: list[str]) -> str:
    return (
        f"needs the {extra!r} extra ({', '.join(missing)} not installed): "
        f"pip install -e '.[{extra}]'"
    )


def needs_extra(extra: str) -> pytest.MarkDecorator:
    """A mark that skips a test without ``extra``: on a test, on a case
    (``pytest.param(..., marks=...)``) or on a module (``pytestmark``); also for a test whose
    script, run in a subprocess of this Python, needs it."""
    missing = missing_from(extra)
    return pytest.mark.skipif(bool(missing), reason=skip_reason(extra, missing))


def missing_extras() -> dict[str, list[str]]:
    """Every extra that is not wholly installed, with what it lacks."""
    return {extra: missing for extra in extras() if (missing := missing_from(extra))}


def refuse_missing_extras() -> None:
    """Where ``CROPLAND_REQUIRE_EXTRAS=1`` (CI), stop the run before any test is skipped for a
    missing extra (conftest.py calls this as pytest starts)."""
    if os.environ.get(REQUIRE_EXTRAS) != "1":
        return
    missing = missing_extras()
    if missing:
        lacking = "; ".join(f"{extra!r} lacks {', '.join(lack)}" for extra, lack in missing.items())
        raise pytest.UsageError(
            f"{REQUIRE_EXTRAS}=1 but not every extra is installed ({lacking}): "
            "bash scripts/setup.sh installs them all"
        )
