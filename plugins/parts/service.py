"""Parts: create (with the part's AttachmentSet, in one transaction), read, update, delete, list.

Field values arrive already validated and normalized by the API schemas (blank strings as
``None``, tags as a list); this layer enforces the rules that need the database: unique keys,
existing types, and parts that other plugins still use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import peewee

from core.plugin_api import (
    AttachableEntity,
    Attachment,
    Conflict,
    NotFound,
    copy_attachment,
    create_owner,
    database,
    delete_owner,
)
from plugins.parts import hook_calls, keys
from plugins.parts.models import EDITABLE_FIELDS, Part, PartType

#: The part entity type the core manages sets for (``owner.type == "part"``, ``owner.key``).
PART_ENTITY = AttachableEntity("part", Part, set_field="attachment_set", key_field="key")

#: How many random keys to try before giving up (collisions are rare until the space fills).
MAX_KEY_ATTEMPTS = 25


def _select() -> peewee.ModelSelect[Part]:
    """Parts with their type joined: ``part.part_type`` is a PartType or ``None`` (no lazy load)."""
    return Part.select(Part, PartType).join(
        PartType, peewee.JOIN.LEFT_OUTER, on=(Part.part_type == PartType.id)
    )


def get_part(key: str) -> Part:
    """The part with this key (type joined). Raises :class:`NotFound`."""
    part = _select().where(Part.key == key).first()
    if part is None:
        raise NotFound(f"part {key} does not exist", {"key": key})
    return part


def get_part_by_id(part_id: int) -> Part:
    """The part with this id (type joined). Raises :class:`NotFound`."""
    part = _select().where(Part.id == part_id).first()
    if part is None:
        raise NotFound(f"part {part_id} does not exist", {"part_id": part_id})
    return part


def _check_type(type_id: int | None) -> None:
    if type_id is not None and not PartType.select().where(PartType.id == type_id).exists():
        raise NotFound(f"part type {type_id} does not exist", {"type_id": type_id})


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable part fields: {sorted(unknown)}")


def part_ids_by_key(keys: list[str]) -> dict[str, int]:
    """``{key: part id}`` for the given keys (one query). Raises :class:`NotFound` naming the
    keys no part has."""
    query = Part.select(Part.key, Part.id).where(Part.key.in_(keys)).tuples()
    found = {key: part_id for key, part_id in cast(Iterable[tuple[str, int]], query)}
    missing = [key for key in keys if key not in found]
    if missing:
        raise NotFound(f"no part has the key(s) {', '.join(missing)}", {"keys": missing})
    return found


def key_taken(key: str) -> bool:
    """Whether a part already has this key."""
    return bool(Part.select().where(Part.key == key).exists())


def create_part(fields: dict[str, Any]) -> Part:
    """Create a part and its AttachmentSet in one transaction; return it (type joined).

    ``fields`` holds editable fields (``description`` required). Raises :class:`NotFound` for an
    unknown ``type_id`` and :class:`Conflict` (``KEY_SPACE_EXHAUSTED``) when
    :data:`MAX_KEY_ATTEMPTS` random keys were all taken.
    """
    _check_fields(fields)
    _check_type(fields.get("type_id"))
    for _attempt in range(MAX_KEY_ATTEMPTS):
        key = keys.random_key()
        if key_taken(key):
            continue
        try:
            create_owner(PART_ENTITY, key=key, **fields)
        except peewee.IntegrityError:
            if key_taken(key):
                continue  # another request took the key between the check and the insert
            _check_type(fields.get("type_id"))  # the type was deleted meanwhile
            raise
        return get_part(key)
    raise Conflict(
        f"no free part key found after {MAX_KEY_ATTEMPTS} attempts",
        {"attempts": MAX_KEY_ATTEMPTS},
        code="KEY_SPACE_EXHAUSTED",
    )


def update_part(key: str, changes: dict[str, Any]) -> Part:
    """Set exactly the given fields (``None`` clears); return the updated part (type joined).

    Raises :class:`NotFound` for an unknown part or ``type_id``.
    """
    _check_fields(changes)
    part = get_part(key)
    if "type_id" in changes:
        _check_type(changes["type_id"])
    for name, value in changes.items():
        setattr(part, name, [] if name == "tags" and value is None else value)
    try:
        with database.atomic():
            part.save()
    except peewee.IntegrityError:
        _check_type(changes.get("type_id"))  # the type was deleted meanwhile
        raise
    return get_part(key)


def _refuse_if_used(part: Part) -> None:
    reasons = hook_calls.deletion_blockers(part.id)
    if reasons:
        raise Conflict(
            f"part {part.key} cannot be deleted, it is used by: {', '.join(reasons)}",
            {"key": part.key, "blockers": reasons},
            code="PART_IN_USE",
        )


def delete_part(key: str) -> None:
    """Delete a part with its set and the set's attachments (the core fires ``entity_deleted``).

    Raises :class:`NotFound`, or :class:`Conflict` (``PART_IN_USE``) when a plugin reports a
    blocker (e.g. a kit lists the part), also when the blocker appears during the deletion.
    """
    part = get_part(key)
    try:
        delete_owner(PART_ENTITY, part, before=lambda: _refuse_if_used(part))
    except peewee.IntegrityError:
        _refuse_if_used(part)
        raise


def list_parts(limit: int, offset: int, type_id: int | None = None) -> tuple[list[Part], int]:
    """One page of parts, newest first (created_at, then id, descending), and the total count.

    Two queries whatever the page size.
    """
    counted, page = Part.select(), _select()
    if type_id is not None:
        counted = counted.where(Part.part_type == type_id)
        page = page.where(Part.part_type == type_id)
    page = page.order_by(Part.created_at.desc(), Part.id.desc()).limit(limit).offset(offset)
    return list(page), counted.count()


def copy_attachment_to_part(
    key: str, attachment_id: int, set_as_cover: bool = False
) -> Attachment:
    """Copy attachment ``attachment_id`` (of any set) into the part's set, sharing its bytes.

    Raises :class:`NotFound` for an unknown part or attachment.
    """
    part = get_part(key)
    return copy_attachment(part.attachment_set_id, attachment_id, set_as_cover=set_as_cover)
