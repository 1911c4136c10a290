"""The plugin host: registration, validation, entry points and the hook documentation."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask_openapi3 import APIBlueprint

from core import hookspecs
from core.app import create_app
from core.cli import cli
from core.plugins import PluginError, build_plugin_manager, describe_plugins, hookimpl
from plugins.parts import hookspecs as parts_hookspecs
from plugins.sellers import hookspecs as sellers_hookspecs
from storage_drivers.local import LocalDriver as LocalStorage

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


class GreetingPlugin:
    """A throwaway plugin: one blueprint and one command."""

    @hookimpl
    def register_blueprints(self):
        bp = APIBlueprint("greeting", __name__, url_prefix="/api/greeting")

        @bp.get("")
        def hello():
            return {"hello": "world"}

        return [bp]

    @hookimpl
    def register_commands(self, cli):
        @cli.command("greet")
        def greet():
            print("hello from a plugin")


def _config(tmp_path: Path) -> dict[str, str]:
    return {"database_url": f"sqlite:///{tmp_path}/p.db", "storage_url": f"file://{tmp_path}/b"}


def test_in_process_plugin_hooks_run(tmp_path: Path) -> None:
    app = create_app(_config(tmp_path), plugins=[GreetingPlugin()])
    assert app.test_client().get("/api/greeting").json == {"hello": "world"}
    spec = app.test_client().get("/api/docs/openapi.json").json
    assert "/api/greeting" in spec["paths"]


def test_plugin_registered_twice_fails_naming_it() -> None:
    plugin = GreetingPlugin()
    with pytest.raises(PluginError, match="registered twice"):
        build_plugin_manager([plugin, plugin], load_entry_points=False)


def test_unknown_hook_fails_naming_the_plugin() -> None:
    class Typo:
        @hookimpl
        def register_blueprint(self):  # missing "s"
            return []

    with pytest.raises(PluginError, match="unknown hooks"):
        build_plugin_manager([Typo()], load_entry_points=False)


def test_duplicate_storage_scheme_fails_naming_both_plugins(tmp_path: Path) -> None:
    class ShadowsLocal:
        @hookimpl
        def register_storage_drivers(self):
            return {"file": LocalStorage}

    with pytest.raises(PluginError, match=r"storage scheme 'file' is registered by both"):
        create_app(_config(tmp_path), plugins=[ShadowsLocal()])


def test_third_party_storage_scheme_is_used(tmp_path: Path) -> None:
    class MemStorage(LocalStorage):
        scheme = "mem"
        built_from: list[str] = []

        @classmethod
        def from_url(cls, url):
            cls.built_from.append(url)
            return LocalStorage.from_url(f"file://{tmp_path}/mem")

    class MemPlugin:
        @hookimpl
        def register_storage_drivers(self):
            return {"mem": MemStorage}

    config = {**_config(tmp_path), "storage_url": "mem://anything"}
    create_app(config, plugins=[MemPlugin()])
    assert MemStorage.built_from == ["mem://anything"]


@pytest.fixture
def entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A plugin distribution installed on sys.path with a ``partsbin`` entry point."""
    site = tmp_path / "site"
    (site / "hello_plugin").mkdir(parents=True)
    (site / "hello_plugin" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import pluggy
            from flask_openapi3 import APIBlueprint

            hookimpl = pluggy.HookimplMarker("partsbin")

            @hookimpl
            def register_blueprints():
                bp = APIBlueprint("hello_ep", __name__, url_prefix="/api/hello-ep")
                bp.add_url_rule("", "index", lambda: {"from": "entry point"})
                return [bp]
            """
        )
    )
    dist = site / "hello_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hello-plugin\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[partsbin]\nhello = hello_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    yield "hello_plugin"
    sys.modules.pop("hello_plugin", None)


def test_entry_point_plugin_is_loaded(tmp_path: Path, entry_point_plugin: str) -> None:
    app = create_app(_config(tmp_path))
    assert app.test_client().get("/api/hello-ep").json == {"from": "entry point"}
    pm = app.extensions["partsbin"].plugin_manager
    rows = {row["name"]: row for row in describe_plugins(pm)}
    assert rows["hello"]["distribution"] == "hello-plugin 1.2.3"
    assert rows["hello"]["hooks"] == ["register_blueprints"]


def test_plugins_command_lists_plugins_and_hooks(tmp_path: Path) -> None:
    app = create_app(_config(tmp_path), plugins=[GreetingPlugin()])
    result = app.test_cli_runner().invoke(cli, args=["plugins"])
    assert result.exit_code == 0, result.output
    assert "storage_drivers.plugin" in result.output
    assert "register_storage_drivers" in result.output


def test_register_commands_adds_a_command(tmp_path: Path) -> None:
    import click

    group = click.Group()
    pm = build_plugin_manager([GreetingPlugin()], load_entry_points=False)
    pm.hook.register_commands(cli=group)
    result = create_app(_config(tmp_path)).test_cli_runner().invoke(group, ["greet"])
    assert result.exit_code == 0
    assert "hello from a plugin" in result.output


def test_every_hookspec_is_documented() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"^###\s+`(\w+)", text, flags=re.MULTILINE))
    specs = {
        name
        for module in (hookspecs, parts_hookspecs, sellers_hookspecs)
        for name in dir(module)
        if hasattr(getattr(module, name), "partsbin_spec")
    }
    assert specs, "no hookspecs found"
    assert specs - documented == set(), "hooks missing from docs/plugins.md"
    assert documented - specs == set(), "docs/plugins.md documents hooks that do not exist"


@pytest.mark.parametrize("module", [hookspecs, parts_hookspecs, sellers_hookspecs])
def test_hookspecs_have_docstrings(module) -> None:
    for name in dir(module):
        fn = getattr(module, name)
        if hasattr(fn, "partsbin_spec"):
            assert (fn.__doc__ or "").strip(), f"hookspec {name} has no docstring"


def test_describe_plugins_is_sorted(tmp_path: Path) -> None:
    pm = build_plugin_manager([SimpleNamespace()], load_entry_points=False)
    names = [row["name"] for row in describe_plugins(pm)]
    assert names == sorted(names)


def test_a_disabled_plugin_is_not_loaded(tmp_path: Path) -> None:
    app = create_app({**_config(tmp_path), "disable_plugins": "pick_lists"})
    names = {row["name"] for row in describe_plugins(app.extensions["partsbin"].plugin_manager)}
    assert "pick_lists" not in names and "kits" in names
    paths = app.test_client().get("/api/docs/openapi.json").json["paths"]
    assert "/api/kits" in paths and "/api/pick-lists/{pick_list_id}" not in paths


def test_disabling_a_plugin_another_needs_fails_naming_both(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as refused:
        create_app({**_config(tmp_path), "disable_plugins": "parts"})
    assert "plugin 'kits' requires plugin 'parts', which is disabled" in str(refused.value)
    assert "plugin 'inventory' requires plugin 'parts', which is disabled" in str(refused.value)


def test_disabling_an_unknown_plugin_fails_listing_the_installed_ones(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"cannot disable 'kitz'.*installed plugins: .*kits"):
        create_app({**_config(tmp_path), "disable_plugins": "kitz"})


def test_a_plugin_missing_a_required_plugin_fails_naming_both() -> None:
    class NeedsInventory:
        REQUIRES_PLUGINS = ("inventory",)

    with pytest.raises(PluginError, match=r"requires plugin 'inventory', which is not installed"):
        build_plugin_manager([NeedsInventory()], load_entry_points=False)


def test_a_plugin_defines_hooks_that_others_implement() -> None:
    from core.plugin_api import hookspec

    class Specs:
        @hookspec
        def widget_count(self) -> int:  # type: ignore[empty-body]
            """How many widgets."""

    class Owner:
        @hookimpl
        def register_hookspecs(self, plugin_manager):
            plugin_manager.add_hookspecs(Specs)

    class Implementer:
        @hookimpl
        def widget_count(self):
            return 3

    pm = build_plugin_manager([Implementer(), Owner()], load_entry_points=False)
    assert pm.hook.widget_count() == [3]


def test_implementing_a_hook_nobody_defines_fails() -> None:
    class Implementer:
        @hookimpl
        def widget_count(self):
            return 3

    with pytest.raises(PluginError, match="unknown hooks"):
        build_plugin_manager([Implementer()], load_entry_points=False)


def test_the_core_hookspecs_mention_no_part_or_kit() -> None:
    specs = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "partsbin_spec")]
    assert not [name for name in specs if "part" in name or "kit" in name or "stock" in name]
