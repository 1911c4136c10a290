"""Every hook a Partsbin plugin can implement.

Plugins implement hooks with :data:`core.plugins.hookimpl`. The core always calls hooks with
keyword arguments, so an implementation may accept fewer arguments than the spec lists and new
arguments can be added without breaking plugins. Registration hooks return a list (or ``None`` when
the plugin has nothing to register); the core merges the lists and refuses duplicates at start-up
with an error naming both plugins. Every hook here is documented in ``docs/plugins.md`` (a test
checks that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    import flask
    from flask_openapi3 import APIBlueprint

    from core.attachments.entities import AttachableEntity
    from core.migrations_runner import MigrationSource
    from storage_drivers.base import StorageDriver

hookspec = pluggy.HookspecMarker("partsbin")

# --- registration (called once while the app is built) --------------------------------------


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
def register_storage_drivers() -> dict[str, type[StorageDriver]] | None:
    """Return a mapping of URL scheme (``"file"``, ``"s3"``) to a storage driver class.

    The class is built with ``from_url(url)``; see :class:`storage_drivers.base.StorageDriver`.
    Two plugins claiming the same scheme is a start-up error.
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


@hookspec
def part_kit_usages(part_ids: list[int]) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given part id, the kits that use it (``include=kits`` on part lists).

    Each usage is a dict ``{kit_id, kit_name, status, build_target, required_per_unit,
    reserved_quantity, updated_at}``. Parts with no usage may be absent. Return ``None`` when the
    plugin knows nothing about kits.
    """


@hookspec
def part_deletion_blockers(part_id: int) -> list[str] | None:
    """Return human-readable reasons why part ``part_id`` cannot be deleted (e.g. kit names).

    A non-empty answer from any plugin makes ``DELETE /api/parts/{key}`` answer 409.
    """


@hookspec
def stock_levels(part_ids: list[int]) -> dict[int, int] | None:
    """Return the quantity in stock for each given part id; absent ids count as 0.

    Return ``None`` when the plugin keeps no stock.
    """


# --- events (called after the change has been committed) ---------------------------------


@hookspec
def attachment_created(attachment: Any) -> None:
    """Called after an attachment row was committed. Return nothing."""


@hookspec
def attachment_deleted(attachment: Any) -> None:
    """Called after an attachment row was deleted and the deletion committed. Return nothing."""


@hookspec
def entity_deleted(entity_type: str, entity_id: int, attachment_set_id: int) -> None:
    """Called after an owner row and its AttachmentSet were deleted. Return nothing."""
