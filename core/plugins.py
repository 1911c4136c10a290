"""The plugin host: builds one pluggy manager per app and merges what plugins register.

Built-in plugins are registered from :data:`DEFAULT_PLUGINS`; third-party plugins arrive through
the ``partsbin`` entry-point group. Registrations are validated at start-up: two plugins claiming
the same storage scheme, entity type or migration history table fail with :class:`PluginError`
naming both plugins.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import pluggy

from core import hookspecs

PROJECT_NAME = "partsbin"
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Modules registered in every app, in this order.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "storage_drivers.plugin",
    "core.attachments.plugin",
    "plugins.parts.plugin",
    "plugins.kits.plugin",
)


class PluginError(Exception):
    """A plugin could not be loaded or registered something invalid."""


def build_plugin_manager(
    extra_plugins: Sequence[object | str] = (),
    *,
    load_entry_points: bool = True,
    default_plugins: Sequence[str] = DEFAULT_PLUGINS,
) -> pluggy.PluginManager:
    """Return a new manager with the hookspecs, the default plugins, entry points and extras.

    ``extra_plugins`` are modules, module names or plugin objects (used by tests and embedders).
    Raises :class:`PluginError` if a module cannot be imported or a plugin is registered twice.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in default_plugins:
        _register(pm, _import(name), name)
    if load_entry_points:
        try:
            pm.load_setuptools_entrypoints(PROJECT_NAME)
        except Exception as exc:
            raise PluginError(
                f"loading a '{PROJECT_NAME}' entry-point plugin failed: {exc}"
            ) from exc
    for plugin in extra_plugins:
        obj = _import(plugin) if isinstance(plugin, str) else plugin
        _register(pm, obj, plugin_name(pm, obj) if not isinstance(plugin, str) else plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements unknown hooks: {exc}") from exc
    return pm


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise PluginError(f"cannot import plugin module {name!r}: {exc}") from exc


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    if pm.is_registered(plugin) or pm.get_plugin(name) is not None:
        raise PluginError(f"plugin {name!r} is registered twice")
    try:
        pm.register(plugin, name=name)
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} could not be registered: {exc}") from exc


def plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """The name a plugin is (or would be) registered under."""
    return pm.get_name(plugin) or getattr(plugin, "__name__", None) or repr(plugin)


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """``[{"name", "hooks", "distribution"}]`` for every registered plugin, sorted by name."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    result = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
        dist = dists.get(id(plugin))
        result.append(
            {
                "name": name,
                "hooks": hooks,
                "distribution": f"{dist.project_name} {dist.version}" if dist else None,
            }
        )
    return sorted(result, key=lambda item: item["name"])


def collect_list(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a registration hook and return ``[(plugin_name, item), ...]`` over every answer.

    Each implementation may return ``None`` or a list. Items keep registration order.
    """
    caller = getattr(pm.hook, hook_name)
    result: list[tuple[str, Any]] = []
    for impl in reversed(caller.get_hookimpls()):  # pluggy calls LIFO; we want FIFO
        fn_kwargs = {k: v for k, v in kwargs.items() if k in impl.argnames}
        answer = impl.function(**fn_kwargs)
        if answer is None:
            continue
        if not isinstance(answer, Iterable) or isinstance(answer, str | bytes | dict):
            raise PluginError(f"plugin {impl.plugin_name!r}: {hook_name}() must return a list")
        result.extend((impl.plugin_name, item) for item in answer)
    return result


def collect_mapping(
    pm: pluggy.PluginManager, hook_name: str, what: str, **kwargs: Any
) -> dict[str, tuple[str, Any]]:
    """Call a hook whose implementations return dicts; merge them refusing duplicate keys.

    Returns ``{key: (plugin_name, value)}``. ``what`` names the key in error messages.
    """
    caller = getattr(pm.hook, hook_name)
    merged: dict[str, tuple[str, Any]] = {}
    for impl in reversed(caller.get_hookimpls()):
        answer = impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
        if answer is None:
            continue
        if not isinstance(answer, dict):
            raise PluginError(f"plugin {impl.plugin_name!r}: {hook_name}() must return a dict")
        for key, value in answer.items():
            if key in merged:
                raise PluginError(
                    f"{what} {key!r} is registered by both {merged[key][0]!r} "
                    f"and {impl.plugin_name!r}"
                )
            merged[key] = (impl.plugin_name, value)
    return merged
