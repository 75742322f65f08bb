"""tests/extras.py: tests that need an extra skip naming it where it is missing, and CI, which
installs every extra, refuses to run without one."""

from __future__ import annotations

import re

import pytest

import tests.extras as extras_module
from tests.extras import (
    REQUIRE_EXTRAS,
    extras,
    missing_from,
    needs_extra,
    refuse_missing_extras,
)
from tests.script_runs import PROJECT_ROOT

ABSENT = "cropland-no-such-distribution"


@pytest.fixture
def one_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extra ``ghost`` whose second distribution is not installed, beside ``dev``."""
    declared = {"dev": ("pytest",), "ghost": ("pytest", ABSENT)}
    monkeypatch.setattr(extras_module, "extras", lambda: declared)


def test_setup_installs_every_extra_so_ci_skips_none():
    installed = re.search(
        r"pip install .*-e \"\.\[([a-z,]+)\]\"", (PROJECT_ROOT / "scripts" / "setup.sh").read_text()
    )
    assert installed, "scripts/setup.sh installs no extras"
    assert set(installed.group(1).split(",")) == set(extras())


def test_the_extras_are_pyprojects_with_their_distribution_names():
    assert extras()["baseline"] == ("scikit-learn",)
    assert "mkdocstrings" in extras()["docs"]  # the name, without "[python]>=..."
    assert missing_from("dev") == []  # pytest is running this


def test_a_missing_distribution_skips_with_the_extra_and_how_to_install_it(one_absent):
    assert missing_from("ghost") == [ABSENT]
    mark = needs_extra("ghost").mark
    assert mark.args == (True,)
    assert mark.kwargs["reason"] == (
        f"needs the 'ghost' extra ({ABSENT} not installed): pip install -e '.[ghost]'"
    )
    assert needs_extra("dev").mark.args == (False,)


def test_an_unknown_extra_is_a_mistake_in_the_test():
    with pytest.raises(ValueError, match="no extra 'exports' in pyproject.toml; it has dev, "):
        needs_extra("exports")


def test_ci_refuses_to_run_without_an_extra(one_absent, monkeypatch):
    monkeypatch.delenv(REQUIRE_EXTRAS, raising=False)
    refuse_missing_extras()  # a developer's venv may lack extras: their tests skip
    monkeypatch.setenv(REQUIRE_EXTRAS, "1")
    with pytest.raises(pytest.UsageError, match=f"'ghost' lacks {ABSENT}\\): bash scripts/setup"):
        refuse_missing_extras()
    monkeypatch.setattr(extras_module, "extras", lambda: {"dev": ("pytest",)})
    refuse_missing_extras()
