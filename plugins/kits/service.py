"""Kits and their contents: every change runs here, one transaction per operation.

Rules: kit names are unique ignoring case; an archived kit cannot be edited (409 ``KIT_ARCHIVED``)
until unarchived; an update that changes nothing is a 409 ``NO_CHANGES``; content lines use
optimistic locking (a stale ``version`` is a 409 ``VERSION_CONFLICT``). Content changes also
touch the kit's ``updated_at`` (lists are ordered by it).
"""

from __future__ import annotations

from typing import Any, cast

import peewee

from core.plugin_api import (
    AttachableEntity,
    Conflict,
    NotFound,
    create_owner,
    database,
    delete_owner,
    utcnow,
)
from plugins.kits.models import ACTIVE, ARCHIVED, Kit, KitContent
from plugins.parts.models import Part

#: The kit entity type the core manages sets for (``owner.type == "kit"``, ``owner.key`` = id).
KIT_ENTITY = AttachableEntity("kit", Kit, set_field="attachment_set", key_field="id")


# --- kits ---------------------------------------------------------------------------------


def get_kit(kit_id: int) -> Kit:
    """The kit, or :class:`NotFound`."""
    kit = Kit.get_or_none(Kit.id == kit_id)
    if kit is None:
        raise NotFound(f"kit {kit_id} does not exist", {"kit_id": kit_id})
    return kit


def list_kits(
    status: str | None = None, query: str | None = None, limit: int = 50, offset: int = 0
) -> list[Kit]:
    """Kits, most recently updated first; ``status`` filters, ``query`` matches name or
    description ignoring case (``%`` and ``_`` match themselves). One query."""
    select = Kit.select()
    if status is not None:
        select = select.where(Kit.status == status)
    if query:
        select = select.where(Kit.name.contains(query) | Kit.description.contains(query))
    return list(select.order_by(Kit.updated_at.desc(), Kit.id.desc()).limit(limit).offset(offset))


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a kit named {name!r} already exists", {"name": name}, code="KIT_NAME_TAKEN")


def _ensure_name_free(name: str, exclude_id: int | None = None) -> None:
    select = Kit.select(Kit.id).where(peewee.fn.LOWER(Kit.name) == peewee.fn.LOWER(name))
    if exclude_id is not None:
        select = select.where(Kit.id != exclude_id)
    if select.exists():
        raise _name_taken(name)


def _ensure_active(kit: Kit) -> None:
    if kit.status == ARCHIVED:
        raise Conflict(
            f"kit {kit.id} is archived; unarchive it first",
            {"kit_id": kit.id},
            code="KIT_ARCHIVED",
        )


def _no_changes(what: str) -> Conflict:
    return Conflict(f"{what}: nothing to change", code="NO_CHANGES")


def create_kit(name: str, description: str | None = None, build_target: int = 1) -> Kit:
    """Create an active kit and its AttachmentSet in one transaction.

    Raises :class:`Conflict` (``KIT_NAME_TAKEN``).
    """
    _ensure_name_free(name)
    try:
        row = create_owner(
            KIT_ENTITY, name=name, description=description, build_target=build_target
        )
    except peewee.IntegrityError as exc:
        raise _name_taken(name) from exc
    return cast(Kit, row)


def update_kit(kit_id: int, changes: dict[str, Any]) -> Kit:
    """Set ``name``, ``description`` and/or ``build_target``.

    Raises :class:`NotFound`, or :class:`Conflict`: ``KIT_ARCHIVED``, ``NO_CHANGES`` (nothing
    sent differs from the stored values), ``KIT_NAME_TAKEN``.
    """
    kit = get_kit(kit_id)
    _ensure_active(kit)
    changed = {name: value for name, value in changes.items() if getattr(kit, name) != value}
    if not changed:
        raise _no_changes(f"kit {kit_id}")
    if "name" in changed:
        _ensure_name_free(changed["name"], exclude_id=kit_id)
    for name, value in changed.items():
        setattr(kit, name, value)
    try:
        with database.atomic():
            kit.save()
    except peewee.IntegrityError as exc:
        raise _name_taken(changed.get("name", kit.name)) from exc
    return kit


def _set_status(kit_id: int, status: str) -> Kit:
    kit = get_kit(kit_id)
    if kit.status == status:
        raise Conflict(
            f"kit {kit_id} is already {status}",
            {"kit_id": kit_id, "status": status},
            code="KIT_ARCHIVED" if status == ARCHIVED else "KIT_NOT_ARCHIVED",
        )
    kit.status = status
    kit.archived_at = utcnow() if status == ARCHIVED else None
    with database.atomic():
        kit.save()
    return kit


def archive_kit(kit_id: int) -> Kit:
    """Archive an active kit (it stops reserving parts). Raises 404, or 409 ``KIT_ARCHIVED``."""
    return _set_status(kit_id, ARCHIVED)


def unarchive_kit(kit_id: int) -> Kit:
    """Make an archived kit active again. Raises 404, or 409 ``KIT_NOT_ARCHIVED``."""
    return _set_status(kit_id, ACTIVE)


def delete_kit(kit_id: int) -> None:
    """Delete a kit, its contents, its set and the set's attachments (the core fires
    ``entity_deleted``)."""
    kit = get_kit(kit_id)

    def delete_contents() -> None:
        KitContent.delete().where(KitContent.kit == kit_id).execute()

    delete_owner(KIT_ENTITY, kit, before=delete_contents)


# --- contents -----------------------------------------------------------------------------


def _touch(kit_id: int) -> None:
    Kit.update(updated_at=utcnow()).where(Kit.id == kit_id).execute()


def get_content(kit_id: int, content_id: int) -> KitContent:
    """Content line ``content_id`` of kit ``kit_id``; :class:`NotFound` if either is missing or
    the line belongs to another kit."""
    content = KitContent.get_or_none((KitContent.id == content_id) & (KitContent.kit == kit_id))
    if content is None:
        raise NotFound(
            f"kit {kit_id} has no content line {content_id}",
            {"kit_id": kit_id, "content_id": content_id},
        )
    return content


def _already_listed(kit_id: int, part_id: int) -> Conflict:
    return Conflict(
        f"part {part_id} is already in kit {kit_id}; change that line instead",
        {"kit_id": kit_id, "part_id": part_id},
        code="PART_ALREADY_IN_KIT",
    )


def add_content(
    kit_id: int, part_id: int, required_per_unit: int = 1, note: str | None = None
) -> KitContent:
    """Add a part line (version 1) to an active kit.

    Raises :class:`NotFound` (kit or part), or :class:`Conflict`: ``KIT_ARCHIVED``,
    ``PART_ALREADY_IN_KIT``.
    """
    kit = get_kit(kit_id)
    _ensure_active(kit)
    if not Part.select().where(Part.id == part_id).exists():
        raise NotFound(f"part {part_id} does not exist", {"part_id": part_id})
    listed = KitContent.select().where((KitContent.kit == kit_id) & (KitContent.part == part_id))
    if listed.exists():
        raise _already_listed(kit_id, part_id)
    try:
        with database.atomic():
            content = KitContent.create(
                kit=kit_id, part=part_id, required_per_unit=required_per_unit, note=note
            )
            _touch(kit_id)
    except peewee.IntegrityError as exc:  # a concurrent request changed the kit or the part
        if listed.exists():
            raise _already_listed(kit_id, part_id) from exc
        get_kit(kit_id)
        raise NotFound(f"part {part_id} does not exist", {"part_id": part_id}) from exc
    return content


def update_content(
    kit_id: int, content_id: int, version: int, changes: dict[str, Any]
) -> KitContent:
    """Set ``required_per_unit`` and/or ``note`` of a line whose version is ``version``; the
    version then grows by one.

    Raises :class:`NotFound`, or :class:`Conflict`: ``KIT_ARCHIVED``, ``VERSION_CONFLICT``
    (``details.current_version``), ``NO_CHANGES``.
    """
    _ensure_active(get_kit(kit_id))
    content = get_content(kit_id, content_id)
    if content.version != version:
        raise _stale(content)
    changed = {name: value for name, value in changes.items() if getattr(content, name) != value}
    if not changed:
        raise _no_changes(f"content line {content_id}")
    with database.atomic():
        updated = (
            KitContent.update(**changed, version=KitContent.version + 1, updated_at=utcnow())
            .where((KitContent.id == content_id) & (KitContent.version == version))
            .execute()
        )
        if updated:
            _touch(kit_id)
    if not updated:  # another request updated the line after we read it
        raise _stale(get_content(kit_id, content_id))
    return get_content(kit_id, content_id)


def _stale(content: KitContent) -> Conflict:
    return Conflict(
        f"content line {content.id} was changed by someone else (now version "
        f"{content.version}); reload it and retry",
        {"content_id": content.id, "current_version": content.version},
        code="VERSION_CONFLICT",
    )


def delete_content(kit_id: int, content_id: int) -> None:
    """Remove a line from an active kit. Raises :class:`NotFound` or 409 ``KIT_ARCHIVED``."""
    _ensure_active(get_kit(kit_id))
    content = get_content(kit_id, content_id)
    with database.atomic():
        content.delete_instance()
        _touch(kit_id)
