"""The public plugin API (core/plugin_api.py): the only core module plugins import, every name
documented in docs/plugins.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

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


# --- docs/plugins.md: the code it shows is the code that runs --------------------------------

#: Files the Python blocks of docs/plugins.md are excerpts of (each of them runs in the suite).
EXCERPT_SOURCES = [
    *(ROOT / "examples" / "partsbin-projects").rglob("*.py"),
    ROOT / "tests" / "test_uploads.py",
    ROOT / "plugins" / "parts" / "plugin.py",
    ROOT / "plugins" / "parts" / "hookspecs.py",
    ROOT / "plugins" / "kits" / "plugin.py",
]
TOML_SOURCES = [ROOT / "pyproject.toml", ROOT / "examples" / "partsbin-projects" / "pyproject.toml"]


def _blocks(language: str) -> list[str]:
    text = DOCS.read_text()
    pattern = rf"^( *)```{language}\n(.*?)^\1```$"
    blocks = []
    for indent, body in re.findall(pattern, text, flags=re.MULTILINE | re.DOTALL):
        lines = [line[len(indent) :] for line in body.splitlines()]
        blocks.append("\n".join(lines).strip("\n"))
    return blocks


def test_every_python_block_of_the_plugin_docs_is_real_code() -> None:
    sources = "\n".join(path.read_text() for path in EXCERPT_SOURCES)
    blocks = _blocks("python")
    assert len(blocks) >= 10
    assert [block for block in blocks if block not in sources] == []


def test_every_toml_block_of_the_plugin_docs_is_real_configuration() -> None:
    sources = "\n".join(path.read_text() for path in TOML_SOURCES)
    assert [block for block in _blocks("toml") if block not in sources] == []


def test_the_natural_guess_for_a_patch_field_refuses_null_with_a_400(tmp_path: Path) -> None:
    from typing import Annotated

    from pydantic import Field, ValidationError

    from core.plugin_api import StrictBody, may_be_absent

    class Patch(StrictBody):
        name: Annotated[str, Field(min_length=1)] | None = may_be_absent()

    with pytest.raises(ValidationError, match="not null") as refused:
        Patch.model_validate({"name": None})
    assert refused.value.errors()[0]["loc"] == ("name",)
    assert Patch.model_validate({}).model_fields_set == set()
