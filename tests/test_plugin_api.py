"""The public plugin API (core/plugin_api.py): the only core module plugins import, every name
documented in docs/plugins.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import core.plugin_api as plugin_api

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
PLUGIN_CODE = [ROOT / "plugins", *(ROOT / "examples").glob("*/*/")]
CORE_PACKAGES = ("core", "storage_drivers", "migrations")


def _plugin_modules() -> list[Path]:
    modules = []
    for folder in PLUGIN_CODE:
        modules += [path for path in folder.rglob("*.py") if "tests" not in path.parts]
    return sorted(modules)


def _core_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if name.split(".")[0] in CORE_PACKAGES and name != "core.plugin_api"
        ]
    return found


def test_plugin_code_imports_nothing_of_the_core_but_the_plugin_api() -> None:
    modules = _plugin_modules()
    assert len(modules) > 20, "the scan found too few plugin modules"
    leaks = {str(path.relative_to(ROOT)): _core_imports(path) for path in modules}
    assert {path: names for path, names in leaks.items() if names} == {}


def test_every_public_name_exists() -> None:
    missing = [name for name in plugin_api.__all__ if not hasattr(plugin_api, name)]
    assert missing == []


def test_every_public_name_is_documented() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `(\w+)`", text, flags=re.MULTILINE))
    assert set(plugin_api.__all__) - documented == set(), "names missing from docs/plugins.md"


def test_the_version_is_in_the_changelog() -> None:
    assert f"### {plugin_api.PLUGIN_API_VERSION}" in DOCS.read_text()
