"""Parts: create (with the part's AttachmentSet, in one transaction), read, update, delete, list.

Field values arrive already validated and normalized by the API schemas (blank strings as
``None``, tags as a list); this layer enforces the rules that need the database: unique keys,
existing types, and parts that other plugins still use.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import peewee

from core.plugin_api import (
    AttachableEntity,
    Attachment,
    Conflict,
    NotFound,
    copy_attachment,
    cover_key_column,
    create_owner,
    database,
    delete_owner,
    tuples,
)
from plugins.parts import hook_calls, keys
from plugins.parts.models import EDITABLE_FIELDS, Part, PartType

#: The part entity type the core manages sets for (``owner.type == "part"``, ``owner.key``).
PART_ENTITY = AttachableEntity("part", Part, set_field="attachment_set", key_field="key")

#: How many random keys to try before walking the index to a free key (collisions are rare
#: until the space gets crowded).
RANDOM_KEY_ATTEMPTS = 3
#: How many insert attempts (a concurrent request may take the chosen key) before giving up.
MAX_KEY_ATTEMPTS = 25


def _select() -> peewee.ModelSelect[Part]:
    """Parts with their type's name as ``part.type_name`` (``None`` without a type).

    A correlated subquery rather than a join: rows stay single-model, which Peewee turns into
    objects faster than joined rows (a list page builds 50 of them).
    """
    type_name = PartType.select(PartType.name).where(PartType.id == Part.part_type)
    return Part.select(Part, type_name.alias("type_name"))


def get_part(key: str) -> Part:
    """The part with this key (with its ``type_name``). Raises :class:`NotFound`."""
    part = _select().where(Part.key == key).first()
    if part is None:
        raise NotFound(f"part {key} does not exist", {"key": key})
    return part


def get_part_by_id(part_id: int) -> Part:
    """The part with this id (with its ``type_name``). Raises :class:`NotFound`."""
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


#: The spaces keys come from, shortest first (tests substitute tiny spaces to simulate crowded
#: ones).
KEY_SPACES = keys.KEY_SPACES

#: How many keys :func:`_free_key_after` reads from the index per query while walking.
KEY_WALK_CHUNK = 256
#: The most index reads one walk makes before it counts the space as full: bounds the cost of a
#: creation once a space is full (the walk would otherwise read every key of it).
KEY_WALK_MAX_READS = 8


def _free_key_after(space: keys.KeySpace, start: str) -> str | None:
    """A free key of ``space`` at or after ``start`` (wrapping around once), or ``None``.

    Walks the unique index on ``parts.key`` in chunks of :data:`KEY_WALK_CHUNK` for at most
    :data:`KEY_WALK_MAX_READS` reads, so the cost is the length of the taken run after
    ``start`` (bounded), not the number of parts. ``None`` when the space is full, or so nearly
    full that no gap was found within the budget.
    """
    reads = 0
    for lower in (space.index_of(start), 0):
        expected, cursor = lower, None
        while expected < space.size:
            if reads == KEY_WALK_MAX_READS:
                return None
            reads += 1
            query = Part.select(Part.key).order_by(Part.key).limit(KEY_WALK_CHUNK)
            if cursor is None:
                query = query.where(Part.key >= space.key_at(expected))
            else:
                query = query.where(Part.key > cursor)
            taken: list[str] = [row[0] for row in tuples(query)]
            for used in taken:
                if not space.contains(used):
                    continue
                index = space.index_of(used)
                if index > expected:
                    return space.key_at(expected)
                expected = index + 1
            if len(taken) < KEY_WALK_CHUNK:
                break
            cursor = taken[-1]
        if expected < space.size:
            return space.key_at(expected)
    return None


def _draw(space: keys.KeySpace) -> str:
    return keys.random_key() if space == keys.DEFAULT_SPACE else space.random_key()


def _create_in(space: keys.KeySpace, fields: dict[str, Any]) -> Part | None:
    """Create the part with a free key of ``space``; ``None`` if the space is full."""
    for attempt in range(MAX_KEY_ATTEMPTS):
        key = _draw(space)
        if key_taken(key):
            if attempt < RANDOM_KEY_ATTEMPTS - 1:
                continue
            free = _free_key_after(space, _draw(space))
            if free is None:
                return None
            key = free
        try:
            create_owner(PART_ENTITY, key=key, **fields)
        except peewee.IntegrityError:
            if key_taken(key):
                continue  # another request took the key between the check and the insert
            _check_type(fields.get("type_id"))  # the type was deleted meanwhile
            raise
        return get_part(key)
    return None  # every attempt lost a race: the space is as good as full for this request


def create_part(
    fields: dict[str, Any], key_spaces: Sequence[keys.KeySpace] | None = None
) -> Part:
    """Create a part and its AttachmentSet in one transaction; return it (with its
    ``type_name``).

    ``fields`` holds editable fields (``description`` required). The key is drawn at random
    from the first of ``key_spaces`` (default :data:`KEY_SPACES`: four letters, then longer)
    that has room; after :data:`RANDOM_KEY_ATTEMPTS` taken random keys (a crowded space) the
    next free key after a random point is used, and when a bounded walk finds none the next
    space is tried. Raises :class:`NotFound` for an unknown ``type_id`` and :class:`Conflict`
    (``KEY_SPACE_EXHAUSTED``) only when every space is full.
    """
    spaces = key_spaces or KEY_SPACES
    _check_fields(fields)
    _check_type(fields.get("type_id"))
    for space in spaces:
        part = _create_in(space, fields)
        if part is not None:
            return part
    total = sum(space.size for space in spaces)
    raise Conflict(
        f"no free part key: all {total} keys are taken",
        {"keys": total},
        code="KEY_SPACE_EXHAUSTED",
    )


def update_part(key: str, changes: dict[str, Any]) -> Part:
    """Set exactly the given fields (``None`` clears); return the updated part (with its
    ``type_name``).

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


@dataclass(frozen=True)
class PageCursor:
    """A position in the list order: the (``created_at``, ``id``) of the last item seen."""

    created_at: dt.datetime
    id: int

    def encode(self) -> str:
        """The opaque text clients send back as ``cursor=``."""
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> PageCursor:
        """Parse :meth:`encode`'s output; raises :class:`ValueError` for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, _, row_id = raw.partition("|")
            cursor = cls(dt.datetime.fromisoformat(stamp), int(row_id))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError("not a cursor from a previous page") from exc
        if not 1 <= cursor.id <= 2**31 - 1 or cursor.created_at.tzinfo is not None:
            raise ValueError("not a cursor from a previous page")
        return cursor


@dataclass
class PartPage:
    """One page of :func:`list_parts`: the parts, the exact total when known cheaply or asked
    for (else ``None``), and the cursor of the next page (``None`` on a short page)."""

    parts: list[Part]
    total: int | None
    next_cursor: PageCursor | None


def list_parts(
    limit: int,
    offset: int = 0,
    type_id: int | None = None,
    *,
    after: PageCursor | None = None,
    exact_count: bool = False,
) -> PartPage:
    """One page of parts, newest first (created_at, then id, descending).

    Cost is O(page) except where noted: ``after`` (keyset pagination) seeks the
    ``(created_at, id)`` index directly; ``offset`` still skips rows, but only the index is
    walked (the ids are chosen first; the type-name and cover subqueries run for the page
    only). The total is exact and free on a short page (``offset + len``); otherwise it is
    ``None`` unless ``exact_count`` (one ``COUNT(*)``, O(matching parts)). Each part carries
    ``cover_key``, the blob key of its cover image (:func:`cover_key_column`). One or two
    queries.
    """
    ids = Part.select(Part.id)
    if type_id is not None:
        ids = ids.where(Part.part_type == type_id)
    if after is not None:
        ids = ids.where(
            (Part.created_at < after.created_at)
            | ((Part.created_at == after.created_at) & (Part.id < after.id))
        )
    order = (Part.created_at.desc(), Part.id.desc())
    ids = ids.order_by(*order).limit(limit).offset(offset)
    cover = cover_key_column(Part.attachment_set).alias("cover_key")
    parts = list(_select().select_extend(cover).where(Part.id.in_(ids)).order_by(*order))
    total: int | None = None
    if exact_count:
        counted = Part.select()
        if type_id is not None:
            counted = counted.where(Part.part_type == type_id)
        total = counted.count()
    elif len(parts) < limit and after is None and (parts or offset == 0):
        total = offset + len(parts)
    next_cursor = None
    if len(parts) == limit:
        next_cursor = PageCursor(parts[-1].created_at, parts[-1].id)
    return PartPage(parts, total, next_cursor)


def copy_attachment_to_part(
    key: str, attachment_id: int, set_as_cover: bool = False
) -> Attachment:
    """Copy attachment ``attachment_id`` (of any set) into the part's set, sharing its bytes.

    Raises :class:`NotFound` for an unknown part or attachment.
    """
    part = get_part(key)
    return copy_attachment(part.attachment_set_id, attachment_id, set_as_cover=set_as_cover)
