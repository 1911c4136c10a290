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
from core.db import is_sqlite, tuples
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


#: Owner rows given a set per transaction by :func:`backfill_sets` (bounds lock time and the
#: statement's parameters: two per row, well under SQLite's and PostgreSQL's limits).
BACKFILL_BATCH = 5000


def backfill_sets(
    entity: AttachableEntity,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Give every row of ``entity`` without a set a new one; return how many got one.

    Set-based: per batch of ``batch_size`` rows (default :data:`BACKFILL_BATCH`) one SELECT of
    the ids, one INSERT of all the new sets (``INSERT ... SELECT`` from a generated series;
    PostgreSQL returns their ids, SQLite assigns consecutive ids under its write lock) and one
    ``UPDATE ... FROM`` a ``VALUES`` mapping: three statements per batch whatever it holds,
    each batch its own transaction, so no owner row stays locked longer than one batch. ``progress``
    is called with the running count after each batch. Idempotent: a second run finds nothing.
    """
    model = entity.model
    pk = model._meta.primary_key
    db = model._meta.database
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
    size = batch_size or BACKFILL_BATCH
    count = 0
    while True:
        with _write_transaction(db):
            query = model.select(pk).where(entity.set_column.is_null(True)).order_by(pk)
            missing = [row_id for (row_id,) in tuples(query.limit(size))]
            if not missing:
                break
            set_ids = _insert_sets(db, len(missing))
            _assign_sets(entity, list(zip(missing, set_ids, strict=True)))
        count += len(missing)
        if progress is not None:
            progress(count)
        if len(missing) < size:
            break
    return count


def _write_transaction(db: peewee.Database) -> Any:
    if is_sqlite(db):
        return db.atomic(lock_type="IMMEDIATE")  # consecutive AUTOINCREMENT ids for the batch
    return db.atomic()


_SERIES_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
    "INSERT INTO attachment_sets (created_at, updated_at) SELECT ?, ? FROM n"
)
_SERIES_POSTGRES = (
    "INSERT INTO attachment_sets (created_at, updated_at) "
    "SELECT %s, %s FROM generate_series(1, %s) ORDER BY 1 RETURNING id"
)


def _insert_sets(db: peewee.Database, how_many: int) -> list[int]:
    """Insert ``how_many`` empty sets in one statement; their ids, ascending."""
    stamp = AttachmentSet.created_at
    now = stamp.db_value(stamp.default())
    if is_sqlite(db):
        cursor = db.execute_sql(_SERIES_SQLITE, (how_many, now, now))
        last = cursor.lastrowid
        return list(range(last - how_many + 1, last + 1))
    cursor = db.execute_sql(_SERIES_POSTGRES, (now, now, how_many))
    return sorted(row[0] for row in cursor.fetchall())


def _assign_sets(entity: AttachableEntity, pairs: list[tuple[int, int]]) -> None:
    """``WITH m AS (VALUES ...) UPDATE ... FROM m``: every owner row to its set, one statement."""
    model = entity.model
    pk = model._meta.primary_key
    mapping = peewee.ValuesList(pairs).cte("m", columns=("row_id", "set_id"))
    query = (
        model.update({entity.set_column: mapping.c.set_id})
        .from_(mapping)
        .where((pk == mapping.c.row_id) & entity.set_column.is_null(True))
        .with_cte(mapping)
    )
    query.execute()


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
