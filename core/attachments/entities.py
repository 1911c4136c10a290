"""Attachable entities: the owner types plugins register, and the set lifecycle the core runs.

A plugin declares an :class:`AttachableEntity` through ``register_attachable_entities``. The core
then guarantees, for every registered type: each owner row has exactly one AttachmentSet created in
the owner's transaction (:func:`create_owned_set`), deleting the owner deletes its set
(:func:`delete_owner`), rows without a set get one after migrations (:func:`backfill_sets`), and
``GET /api/attachment-sets/{id}`` names the owner (:func:`find_owner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee

from core.attachments.models import AttachmentSet
from core.db import tuples
from core.plugins import PluginError, collect_list
from core.state import PartsbinState, get_state


@dataclass(frozen=True)
class AttachableEntity:
    """An entity type whose rows own an AttachmentSet.

    - ``name``: the type name shown as ``owner.type`` (``"part"``), unique across plugins.
    - ``model``: the Peewee model; it must have a field named ``set_field`` holding the set id
      (a ``ForeignKeyField`` to :class:`AttachmentSet` or an integer field, NOT NULL and unique
      once backfilled).
    - ``key_field``: the field that is the owner's public identifier (``"key"`` for parts,
      ``"id"`` for kits); shown as ``owner.key``.
    """

    name: str
    model: type[peewee.Model]
    set_field: str = "attachment_set"
    key_field: str = "id"

    @property
    def set_column(self) -> peewee.Field:
        """The model field that holds the set id."""
        return getattr(self.model, self.set_field)


def validate_entity(plugin: str, entity: Any) -> AttachableEntity:
    """Return ``entity`` if well-formed, else raise :class:`PluginError` naming the plugin."""
    if not isinstance(entity, AttachableEntity):
        raise PluginError(f"plugin {plugin!r} registered {entity!r}, not an AttachableEntity")
    fields = entity.model._meta.fields
    for attr in (entity.set_field, entity.key_field):
        if attr not in fields:
            raise PluginError(
                f"plugin {plugin!r}: entity {entity.name!r} model {entity.model.__name__} "
                f"has no field {attr!r}"
            )
    return entity


def load_entities(state: PartsbinState) -> dict[str, AttachableEntity]:
    """Collect and validate every registered entity type; duplicates raise :class:`PluginError`."""
    entities: dict[str, AttachableEntity] = {}
    owners: dict[str, str] = {}
    for plugin, item in collect_list(state.plugin_manager, "register_attachable_entities"):
        entity = validate_entity(plugin, item)
        if entity.name in entities:
            raise PluginError(
                f"attachable entity {entity.name!r} is registered by both "
                f"{owners[entity.name]!r} and {plugin!r}"
            )
        entities[entity.name] = entity
        owners[entity.name] = plugin
    return entities


def entity_registry(state: PartsbinState) -> dict[str, AttachableEntity]:
    """The app's entity types by name (loaded once per app)."""
    if state.entities is None:
        state.entities = load_entities(state)
    return state.entities


def create_owned_set() -> AttachmentSet:
    """Create a new, empty set. Call inside the transaction that inserts the owner row."""
    return AttachmentSet.create()


def create_owner(entity: AttachableEntity, **fields: Any) -> peewee.Model:
    """Insert an owner row together with its new set, in one transaction; return the row."""
    db = entity.model._meta.database
    with db.atomic():
        attachment_set = create_owned_set()
        return entity.model.create(**{entity.set_field: attachment_set.id, **fields})


def delete_owner(
    entity: AttachableEntity, row: peewee.Model, before: Callable[[], None] | None = None
) -> int | None:
    """Delete ``row`` and its set (and the set's attachment rows) in one transaction.

    ``before`` runs inside the transaction first (e.g. to delete dependent rows or to refuse
    the deletion by raising). After the commit, the ``entity_deleted`` hook fires. Returns the
    deleted set's id. Blobs stay until garbage collection.
    """
    db = entity.model._meta.database
    set_id = _set_id(entity, row)
    row_id = row.get_id()
    with db.atomic():
        if before is not None:
            before()
        row.delete_instance()
        if set_id is not None:
            AttachmentSet.update(cover_attachment=None).where(AttachmentSet.id == set_id).execute()
            AttachmentSet.delete().where(AttachmentSet.id == set_id).execute()
    get_state().plugin_manager.hook.entity_deleted(
        entity_type=entity.name, entity_id=row_id, attachment_set_id=set_id
    )
    return set_id


def _set_id(entity: AttachableEntity, row: peewee.Model) -> int:
    column = entity.set_column
    return row.__data__.get(column.name)


def backfill_sets(entity: AttachableEntity) -> int:
    """Give every row of ``entity`` without a set a new one; return how many got one.

    Idempotent: a second run finds nothing to do.
    """
    model = entity.model
    pk = model._meta.primary_key
    db = model._meta.database
    count = 0
    with db.atomic():
        missing = list(tuples(model.select(pk).where(entity.set_column.is_null(True))))
        for (row_id,) in missing:
            new_set = create_owned_set()
            model.update({entity.set_column: new_set.id}).where(pk == row_id).execute()
            count += 1
    return count


def find_owner(state: PartsbinState, set_id: int) -> dict[str, Any] | None:
    """``{"type", "id", "key"}`` of the row owning set ``set_id``, or ``None`` if unowned."""
    for entity in entity_registry(state).values():
        model = entity.model
        pk = model._meta.primary_key
        key = getattr(model, entity.key_field)
        row = next(tuples(model.select(pk, key).where(entity.set_column == set_id).limit(1)), None)
        if row is not None:
            return {"type": entity.name, "id": row[0], "key": row[1]}
    return None
