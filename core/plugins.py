"""The plugin host: builds one pluggy manager per app and merges what plugins register.

The core's own modules are registered from :data:`DEFAULT_PLUGINS`. Every other plugin, the
built-in domains (parts, kits, ...) as much as a stranger's, arrives through the ``partsbin``
entry-point group, and any of those can be disabled by name. A plugin module may name the plugins
it needs in :data:`REQUIRES_ATTRIBUTE`; a missing or disabled one fails start-up naming both.
Registrations are validated at start-up: two plugins claiming the same storage scheme, entity type
or migration history table fail with :class:`PluginError` naming both plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Collection, Iterable, Sequence
from types import ModuleType
from typing import Any

import pluggy

from core import hookspecs

PROJECT_NAME = "partsbin"
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The core's own modules, registered in every app in this order (they cannot be disabled).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "storage_drivers.plugin",
    "core.attachments.plugin",
    "core.cas.plugin",
    "core.auth.plugin",
    "core.events.plugin",
    "core.tasks.plugin",
    "core.testing_mode.plugin",
)

#: Module attribute through which a plugin names the plugins it needs (entry-point names), e.g.
#: ``REQUIRES_PLUGINS = ("parts",)``.
REQUIRES_ATTRIBUTE = "REQUIRES_PLUGINS"


class PluginError(Exception):
    """A plugin could not be loaded or registered something invalid."""


def build_plugin_manager(
    extra_plugins: Sequence[object | str] = (),
    *,
    load_entry_points: bool = True,
    default_plugins: Sequence[str] = DEFAULT_PLUGINS,
    disabled: Collection[str] = (),
) -> pluggy.PluginManager:
    """Return a new manager with the hookspecs, the default plugins, entry points and extras.

    ``extra_plugins`` are modules, module names or plugin objects (used by tests and embedders).
    ``disabled`` names entry-point plugins not to load. Then every plugin's
    ``register_hookspecs`` runs, and every implemented hook must have a spec.

    Raises :class:`PluginError` if a module cannot be imported, a plugin is registered twice,
    ``disabled`` names a plugin that is not installed, a plugin requires one that is missing or
    disabled, or a plugin implements a hook nobody specified.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in default_plugins:
        _register(pm, _import(name), name)
    if load_entry_points:
        _load_entry_points(pm, set(disabled))
    elif disabled:
        raise PluginError("plugins can only be disabled when entry-point plugins are loaded")
    for plugin in extra_plugins:
        obj = _import(plugin) if isinstance(plugin, str) else plugin
        _register(pm, obj, plugin_name(pm, obj) if not isinstance(plugin, str) else plugin)
    _check_requirements(pm, set(disabled))
    pm.hook.register_hookspecs(plugin_manager=pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements unknown hooks: {exc}") from exc
    return pm


def entry_point_names() -> list[str]:
    """The names of the installed ``partsbin`` entry-point plugins, sorted."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=PROJECT_NAME)})


def _load_entry_points(pm: pluggy.PluginManager, disabled: set[str]) -> None:
    unknown = disabled - set(entry_point_names())
    if unknown:
        raise PluginError(
            f"cannot disable {', '.join(sorted(map(repr, unknown)))}: no such plugin is installed "
            f"(installed plugins: {', '.join(entry_point_names()) or 'none'})"
        )
    for name in disabled:
        pm.set_blocked(name)
    try:
        pm.load_setuptools_entrypoints(PROJECT_NAME)
    except Exception as exc:
        raise PluginError(f"loading a '{PROJECT_NAME}' entry-point plugin failed: {exc}") from exc


def _check_requirements(pm: pluggy.PluginManager, disabled: set[str]) -> None:
    problems = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:  # blocked
            continue
        for required in getattr(plugin, REQUIRES_ATTRIBUTE, ()):
            if pm.get_plugin(required) is not None:
                continue
            why = (
                "which is disabled (PARTSBIN_DISABLE_PLUGINS)"
                if required in disabled
                else "which is not installed"
            )
            problems.append(f"plugin {name!r} requires plugin {required!r}, {why}")
    if problems:
        raise PluginError("; ".join(problems))


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
        if plugin is None:  # blocked (disabled)
            continue
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
