"""Dependencies between cropland's packages run one way: scripts -> evaluation -> inference ->
training -> models and data; mapping stands beside evaluation, on inference; describe reads
data only. A lower package importing a higher one (or two packages importing each other) is the
first step to a second route for one job.

Outside the package the same holds for the trees of the checkout: scripts import cropland only;
tests import cropland and their own helpers, and run benchmarks and scripts as commands;
benchmarks import cropland and one test helper, tests/published_format.py, which imports
cropland alone; cropland imports none of them."""

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
    "mapping": {BASE, "data", "models", "training", "inference"},
    "describe": {BASE, "data"},
}


def layer_of(module: str) -> str:
    """``cropland.data.splits`` -> ``data``; a top-level module such as ``cropland.io`` -> base."""
    parts = module.split(".")
    if len(parts) >= 2 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return BASE


def imported_modules(
    path: Path, roots: tuple[str, ...] = ("cropland",), module: str | None = None
) -> list[str]:
    """Every module under ``roots`` that ``path`` imports, at any depth (function-level imports
    too). Relative imports are resolved against ``module``, the name of ``path``, when given."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            if module is None:
                continue
            package = module.split(".")[: -node.level]
            names = [".".join([*package, *([node.module] if node.module else [])])]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [name for name in names if within(name, roots)]
    return found


def within(name: str, roots: tuple[str, ...] | set[str]) -> bool:
    """``name`` is one of ``roots`` or a module inside one."""
    return any(name == root or name.startswith(root + ".") for root in roots)


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


# The trees of the checkout, and what each may import of them.
ROOT = PACKAGE.parent
TREES = ("cropland", "benchmarks", "tests", "scripts")
TREE_MAY_IMPORT = {
    "cropland": {"cropland"},
    "scripts": {"cropland"},
    "tests": {"cropland", "tests"},
    "benchmarks": {"cropland", "benchmarks", "tests.published_format"},
    # The test helper the benchmarks import: it must not pull the rest of tests/ in with it.
    "tests.published_format": {"cropland"},
}


def tree_of(module: str) -> str:
    """The entry of ``TREE_MAY_IMPORT`` that governs ``module``: itself, else its top folder."""
    return module if module in TREE_MAY_IMPORT else module.split(".")[0]


def wrong_tree_imports(module: str, path: Path) -> list[str]:
    """The modules of the checkout's trees that ``path`` (module ``module``) may not import."""
    allowed = TREE_MAY_IMPORT[tree_of(module)]
    imported = imported_modules(path, TREES, module)
    return [name for name in imported if not within(name, allowed)]


def checkout_module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


TREE_SOURCES = sorted(
    [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    + [*(ROOT / "tests").glob("*.py"), *(ROOT / "scripts").glob("*.py")]
)


def test_every_tree_is_checked():
    assert {checkout_module_name(p).split(".")[0] for p in TREE_SOURCES} == set(TREES)


@pytest.mark.parametrize("path", TREE_SOURCES, ids=lambda p: checkout_module_name(p))
def test_imports_between_trees_run_one_way(path: Path):
    module = checkout_module_name(path)
    wrong = wrong_tree_imports(module, path)
    assert not wrong, f"{module} ({tree_of(module)}) imports {wrong}"


@pytest.mark.parametrize(
    ("module", "source", "wrong"),
    [
        ("cropland.data.splits", "import benchmarks.data\n", ["benchmarks.data"]),
        ("cropland.io", "def f():\n    from tests.refusals import x\n", ["tests.refusals"]),
        (
            "scripts.train",
            "from tests.published_format import rows_from_tree\n",
            ["tests.published_format"],
        ),
        ("scripts.train", "import benchmarks\n", ["benchmarks"]),
        ("tests.test_x", "from benchmarks.data import LOADER_SETTINGS\n", ["benchmarks.data"]),
        ("benchmarks.data", "from tests.script_runs import call_script\n", ["tests.script_runs"]),
        ("benchmarks.data", "from tests import published_format\n", ["tests"]),
        ("tests.published_format", "from tests.tiny_tree import write_tree\n", ["tests.tiny_tree"]),
        ("tests.published_format", "from .tiny_tree import write_tree\n", ["tests.tiny_tree"]),
        ("cropland.data.splits", "from ...benchmarks import data\n", ["benchmarks"]),
    ],
)
def test_the_check_sees_a_wrong_import_between_trees(tmp_path, module, source, wrong):
    path = tmp_path / "wrong.py"
    path.write_text(source)
    assert wrong_tree_imports(module, path) == wrong


def test_the_check_lets_allowed_imports_through(tmp_path):
    path = tmp_path / "fine.py"
    path.write_text("from cropland.io import write_json_atomic\nimport tests.published_format\n")
    assert wrong_tree_imports("benchmarks.prepare_memory", path) == []
    assert wrong_tree_imports("tests.test_x", path) == []
    assert wrong_tree_imports("scripts.train", path) == ["tests.published_format"]
