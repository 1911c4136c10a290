"""Every hook the core defines: registration, storage, attachments, entities and events.

Hooks between plugins live with the plugin that owns the data (the parts plugin's
``plugins/parts/hookspecs.py``), added through :func:`register_hookspecs`.

Plugins implement hooks with :data:`core.plugins.hookimpl`. The core always calls hooks with
keyword arguments, so an implementation may accept fewer arguments than the spec lists and new
arguments can be added without breaking plugins. Registration hooks return a list (or ``None`` when
the plugin has nothing to register); the core merges the lists and refuses duplicates at start-up
with an error naming both plugins. Every hook here is documented in ``docs/plugins.md`` (a test
checks that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click
    import flask
    from flask_openapi3 import APIBlueprint

    from core.attachments.entities import AttachableEntity
    from core.attachments.models import Attachment
    from core.migrations_runner import MigrationSource
    from storage_drivers.base import StorageDriver

hookspec = pluggy.HookspecMarker("partsbin")

# --- registration (called once while the app is built) --------------------------------------


@hookspec
def register_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Add the hookspecs this plugin defines for other plugins to implement. Return nothing.

    Call ``plugin_manager.add_hookspecs(module_or_class)`` with a module whose functions are
    marked with :data:`core.plugin_api.hookspec` (pytest's ``pytest_addhooks`` model). The core
    calls this once, after every plugin is registered and before it checks that every
    implemented hook has a spec, so implementations may be registered before their spec.
    """


@hookspec
def register_migrations() -> list[MigrationSource] | None:
    """Return the migration folders this plugin ships.

    Each :class:`core.migrations_runner.MigrationSource` names a folder of peewee-migrate files, a
    history table of its own (so two plugins' ``001_initial`` never collide) and the names of the
    sources it depends on. The core applies its own migrations first, then plugins in dependency
    order.
    """


@hookspec
def register_attachable_entities() -> list[AttachableEntity] | None:
    """Return the entity types whose rows own an AttachmentSet.

    Each :class:`core.attachments.entities.AttachableEntity` names the type (``"part"``), its Peewee
    model, the field holding the set id and the field that is the owner's public identifier. The
    core then creates, deletes, backfills and checks sets for that type.
    """


@hookspec
def register_blueprints(app: flask.Flask) -> list[APIBlueprint] | None:
    """Return the API blueprints (``flask_openapi3.APIBlueprint``) this plugin serves.

    Routes declared on an ``APIBlueprint`` appear in the OpenAPI document.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``partsbin`` command group. Return nothing."""


@hookspec
def register_storage_drivers() -> dict[str, type[StorageDriver] | str] | None:
    """Return a mapping of URL scheme (``"file"``, ``"s3"``) to a storage driver class, or to
    ``"module:Class"`` text naming it.

    Named classes are imported only when ``PARTSBIN_STORAGE_URL`` uses their scheme, so a driver's
    SDK costs nothing unless configured. The class is built with ``from_url(url)``; see
    :class:`storage_drivers.base.StorageDriver`. Two plugins claiming the same scheme is a
    start-up error.
    """


# --- queries (called while serving) ------------------------------------------------------


@hookspec
def referenced_blobs(first: str | None, last: str | None) -> Iterable[str] | None:
    """Return the CAS hashes (hex SHA-256, or ``cas/<sha256>`` keys) this plugin references.

    Garbage collection keeps every blob named here; the attachments package answers for
    attachment rows. ``first``/``last`` bound the hashes wanted (inclusive; ``None``:
    unbounded); a plugin may ignore them (the core filters), but should use them to query
    only the range: GC asks once for everything, then once per deletion batch of 1,000.

    Order contract, so that GC memory stays flat: a *lazy* iterable (a generator) must yield
    hashes in ascending order (repeats allowed) and is streamed; an in-memory collection
    (list, set, tuple) may be in any order and is sorted by the core. The core merges every
    answer with :func:`heapq.merge`; a lazy answer that goes backwards aborts GC. Return
    ``None`` when there are none. Implementations may declare only the arguments they use.
    """


# --- events (called after the change has been committed) ---------------------------------


@hookspec
def attachment_created(attachment: Attachment) -> None:
    """Called after an attachment row was committed. Return nothing."""


@hookspec
def attachment_deleted(attachment: Attachment) -> None:
    """Called after an attachment row was deleted and the deletion committed. Return nothing.

    ``attachment`` is the row as it was; its set may since have been deleted too.
    """


@hookspec
def entity_deleted(entity_type: str, entity_id: int, attachment_set_id: int) -> None:
    """Called after an owner row and its AttachmentSet were deleted. Return nothing."""
