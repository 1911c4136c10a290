"""Part types: list, create, rename, delete. Names are unique ignoring case."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import peewee
from peewee import fn

from core.plugin_api import Conflict, NotFound, database
from plugins.parts.models import Part, PartType


def list_types() -> list[PartType]:
    """Every type, ordered by name ignoring case (one query)."""
    return list(PartType.select().order_by(fn.LOWER(PartType.name), PartType.id))


def part_counts() -> dict[int, int]:
    """``{type_id: number of parts}`` for every type used by at least one part (one query)."""
    query = (
        Part.select(Part.part_type, fn.COUNT(Part.id))
        .where(Part.part_type.is_null(False))
        .group_by(Part.part_type)
        .tuples()
    )
    return dict(cast(Iterable[tuple[int, int]], query))


def get_type(type_id: int) -> PartType:
    """The type, or :class:`NotFound`."""
    row = PartType.get_or_none(PartType.id == type_id)
    if row is None:
        raise NotFound(f"part type {type_id} does not exist", {"type_id": type_id})
    return row


def _name_taken(name: str, exclude_id: int | None = None) -> Conflict:
    return Conflict(
        f"a part type named {name!r} already exists",
        {"name": name, **({"type_id": exclude_id} if exclude_id else {})},
        code="TYPE_NAME_TAKEN",
    )


def _ensure_name_free(name: str, exclude_id: int | None = None) -> None:
    query = PartType.select(PartType.id).where(fn.LOWER(PartType.name) == fn.LOWER(name))
    if exclude_id is not None:
        query = query.where(PartType.id != exclude_id)
    if query.exists():
        raise _name_taken(name, exclude_id)


def create_type(name: str) -> PartType:
    """Create a type. Raises :class:`Conflict` (``TYPE_NAME_TAKEN``) if the name is taken."""
    _ensure_name_free(name)
    try:
        with database.atomic():
            return PartType.create(name=name)
    except peewee.IntegrityError as exc:  # a concurrent create won the race
        raise _name_taken(name) from exc


def rename_type(type_id: int, name: str) -> PartType:
    """Rename a type. Raises :class:`NotFound`, or :class:`Conflict` if the name is taken."""
    row = get_type(type_id)
    _ensure_name_free(name, exclude_id=type_id)
    row.name = name
    try:
        with database.atomic():
            row.save()
    except peewee.IntegrityError as exc:
        raise _name_taken(name, type_id) from exc
    return row


def _in_use(type_id: int, count: int) -> Conflict:
    return Conflict(
        f"part type {type_id} is used by {count} part(s); change their type first",
        {"type_id": type_id, "part_count": count},
        code="TYPE_IN_USE",
    )


def delete_type(type_id: int) -> None:
    """Delete a type. Raises :class:`NotFound`, or :class:`Conflict` (``TYPE_IN_USE``) if any
    part has this type."""
    row = get_type(type_id)
    try:
        with database.atomic():
            count = Part.select().where(Part.part_type == type_id).count()
            if count:
                raise _in_use(type_id, count)
            row.delete_instance()
    except peewee.IntegrityError as exc:  # a part took the type meanwhile
        count = Part.select().where(Part.part_type == type_id).count()
        raise _in_use(type_id, max(count, 1)) from exc
