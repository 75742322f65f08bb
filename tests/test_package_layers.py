"""Dependencies between cropland's packages run one way: scripts -> evaluation -> inference ->
training -> models and data; describe reads data only. A lower package importing a higher one
(or two packages importing each other) is the first step to a second route for one job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cropland"

# The shared modules at the top of the package (errors, io, plotting, run names, ...) may be
# used by every layer; they import no layer themselves.
BASE = "base"
MAY_IMPORT = {
    BASE: set(),
    "data": {BASE},
    "models": {BASE},
    "training": {BASE, "data", "models"},
    "inference": {BASE, "data", "models", "training"},
    "evaluation": {BASE, "data", "models", "training", "inference"},
    "describe": {BASE, "data"},
}


def layer_of(module: str) -> str:
    """``cropland.data.splits`` -> ``data``; a top-level module such as ``cropland.io`` -> base."""
    parts = module.split(".")
    if len(parts) >= 2 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return BASE


def imported_modules(path: Path) -> list[str]:
    """Every ``cropland.*`` module ``path`` imports, at any depth (function-level imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [name for name in names if name == "cropland" or name.startswith("cropland.")]
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(MAY_IMPORT), f"add {packages - set(MAY_IMPORT)} to MAY_IMPORT"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_imports_run_down_the_layers(path: Path):
    layer = layer_of(module_name(path))
    wrong = [
        name
        for name in imported_modules(path)
        if layer_of(name) != layer and layer_of(name) not in MAY_IMPORT[layer]
    ]
    assert not wrong, f"{module_name(path)} ({layer}) imports {wrong}"


def test_the_check_sees_a_wrong_import(tmp_path):
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def f():\n    from cropland.evaluation.evaluate import evaluate\n")
    assert imported_modules(wrong) == ["cropland.evaluation.evaluate"]
    assert layer_of("cropland.evaluation.evaluate") not in MAY_IMPORT["training"]
