"""Boundaries between top-level folders that imports must respect."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_benchmarks_import_nothing_from_the_test_suite() -> None:
    modules = sorted((ROOT / "bench").rglob("*.py"))
    assert modules
    leaks = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imported_modules(path) if n.split(".")[0] == "tests"
        )
        for path in modules
    }
    assert {path: names for path, names in leaks.items() if names} == {}


def test_the_core_imports_no_plugin() -> None:
    leaks = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imported_modules(path) if n.split(".")[0] in ("plugins", "tests")
        )
        for path in sorted((ROOT / "core").rglob("*.py"))
    }
    assert {path: names for path, names in leaks.items() if names} == {}
