"""Boxes, locations and stock: every change runs here, one transaction per operation.

Stock rules:

- a part has at most one row per location, with a quantity above zero; taking the last unit out
  of a location removes the row (so a part whose total reaches zero is in no location);
- every change writes one history row per location touched (``+n`` added, ``-n`` removed; a move
  writes both), in the same transaction as the change;
- quantities change with single conditional statements (``qty = qty + n``, ``... WHERE qty >= n``),
  so concurrent requests never lose or double a unit, and stock never goes below zero;
- the changes of one part's stock take turns: each first locks the part's row (PostgreSQL ``FOR
  NO KEY UPDATE``, which rows referencing the part do not wait for; SQLite writers already take
  turns). Without it two moves in opposite directions lock the two locations' rows in opposite
  orders and deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import peewee
from peewee import EXCLUDED, JOIN, fn

from core.plugin_api import (
    AttachableEntity,
    Conflict,
    NotFound,
    ValidationFailed,
    create_owner,
    database,
    delete_owner,
    is_sqlite,
    one_of,
    tuples,
    utcnow,
)
from plugins.inventory.models import (
    Box,
    Location,
    PartLocation,
    QuantityHistory,
    location_reference,
)
from plugins.parts.models import Part, PartType

#: The box entity type the core manages sets for (``owner.type == "box"``, ``owner.key`` is the
#: box number).
BOX_ENTITY = AttachableEntity("box", Box, set_field="attachment_set", key_field="box_no")

#: How often creating a box retries when another request took the next number meanwhile.
BOX_NUMBER_ATTEMPTS = 5


# --- boxes ------------------------------------------------------------------------------------


def get_box(box_no: int) -> Box:
    """The box with this number. Raises :class:`NotFound`."""
    box = Box.get_or_none(Box.box_no == box_no)
    if box is None:
        raise NotFound(f"box {box_no} does not exist", {"box_no": box_no})
    return box


def list_boxes() -> list[Box]:
    """Every box by number."""
    return list(Box.select().order_by(Box.box_no))


def occupied_counts(box_ids: Iterable[int] | None = None) -> dict[int, int]:
    """``{box_id: number of locations holding stock}`` (one query); boxes without stock absent."""
    query = (
        Location.select(Location.box, fn.COUNT(fn.DISTINCT(Location.id)))
        .join(PartLocation, on=(PartLocation.location == Location.id))
        .group_by(Location.box)
    )
    if box_ids is not None:
        query = query.where(Location.box.in_(list(box_ids)))
    return {box_id: count for box_id, count in tuples(query)}


def create_box(description: str, capacity: int) -> Box:
    """Create a box numbered one above the highest, with locations 1..capacity and its own
    attachment set, in one transaction."""
    for _attempt in range(BOX_NUMBER_ATTEMPTS):
        next_no = (Box.select(fn.MAX(Box.box_no)).scalar() or 0) + 1
        try:
            with database.atomic():
                box = cast(
                    Box,
                    create_owner(
                        BOX_ENTITY, box_no=next_no, description=description, capacity=capacity
                    ),
                )
                _add_locations(box, 1, capacity)
            return box
        except peewee.IntegrityError:
            if not Box.select().where(Box.box_no == next_no).exists():
                raise
    raise Conflict(
        f"no free box number after {BOX_NUMBER_ATTEMPTS} attempts; try again",
        code="BOX_NUMBER_TAKEN",
    )


def _add_locations(box: Box, first: int, last: int) -> None:
    rows = [{"box": box.id, "loc_no": loc_no} for loc_no in range(first, last + 1)]
    for start in range(0, len(rows), 500):
        Location.insert_many(rows[start : start + 500]).execute()


def update_box(box_no: int, description: str, capacity: int) -> Box:
    """Set the description and the capacity. Growing adds locations; shrinking removes the
    locations above the new capacity, and is refused with 409 ``LOCATION_OCCUPIED`` naming every
    occupied one among them."""
    box = get_box(box_no)
    try:
        with database.atomic():
            if capacity < box.capacity:
                occupied = _occupied_above(box, capacity)
                if occupied:
                    raise _occupied_conflict(box, capacity, occupied)
                Location.delete().where(
                    (Location.box == box.id) & (Location.loc_no > capacity)
                ).execute()
            elif capacity > box.capacity:
                _add_locations(box, box.capacity + 1, capacity)
            box.description = description
            box.capacity = capacity
            box.save()
    except peewee.IntegrityError:  # stock arrived in a location being removed
        occupied = _occupied_above(box, capacity)
        raise _occupied_conflict(box, capacity, occupied) from None
    return box


def _occupied_above(box: Box, capacity: int) -> list[str]:
    query = (
        Location.select(Location.loc_no)
        .join(PartLocation, on=(PartLocation.location == Location.id))
        .where((Location.box == box.id) & (Location.loc_no > capacity))
        .distinct()
        .order_by(Location.loc_no)
    )
    return [location_reference(box.box_no, loc_no) for (loc_no,) in tuples(query)]


def _occupied_conflict(box: Box, capacity: int, occupied: list[str]) -> Conflict:
    return Conflict(
        f"box {box.box_no} cannot shrink to {capacity} locations: "
        f"{', '.join(occupied) or 'a location above it'} still hold(s) stock",
        {"box_no": box.box_no, "capacity": capacity, "occupied_locations": occupied},
        code="LOCATION_OCCUPIED",
    )


def delete_box(box_no: int) -> None:
    """Delete an empty box, its locations and its attachment set. A box holding stock is a 409
    ``BOX_NOT_EMPTY``."""
    box = get_box(box_no)

    def refuse_if_stocked() -> None:
        if occupied_counts([box.id]).get(box.id):
            raise Conflict(
                f"box {box_no} still holds stock; move or remove it first",
                {"box_no": box_no},
                code="BOX_NOT_EMPTY",
            )
        Location.delete().where(Location.box == box.id).execute()

    try:
        delete_owner(BOX_ENTITY, box, before=refuse_if_stocked)
    except peewee.IntegrityError:  # stock arrived meanwhile
        refuse_if_stocked()
        raise


# --- locations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """What one location holds of one part."""

    box_no: int
    loc_no: int
    part_id: int
    key: str
    qty: int


def get_location(box_no: int, loc_no: int) -> Location:
    """Location ``loc_no`` of box ``box_no``. Raises :class:`NotFound` naming which is missing."""
    location = (
        Location.select(Location)
        .join(Box, on=(Location.box == Box.id))
        .where((Box.box_no == box_no) & (Location.loc_no == loc_no))
        .first()
    )
    if location is None:
        get_box(box_no)
        raise NotFound(
            f"box {box_no} has no location {loc_no}", {"box_no": box_no, "loc_no": loc_no}
        )
    return location


def box_locations(box: Box) -> list[int]:
    """The location numbers of the box, in order."""
    query = Location.select(Location.loc_no).where(Location.box == box.id).order_by(Location.loc_no)
    return [loc_no for (loc_no,) in tuples(query)]


def assignments_in_box(box: Box) -> dict[int, list[Assignment]]:
    """``{loc_no: [Assignment, ...]}`` for the box's occupied locations (one query)."""
    query = (
        PartLocation.select(Location.loc_no, Part.id, Part.key, PartLocation.qty)
        .join(Location, on=(PartLocation.location == Location.id))
        .join(Part, on=(PartLocation.part == Part.id))
        .where(Location.box == box.id)
        .order_by(Location.loc_no, Part.key)
    )
    result: dict[int, list[Assignment]] = defaultdict(list)
    for loc_no, part_id, key, qty in tuples(query):
        result[loc_no].append(Assignment(box.box_no, loc_no, part_id, key, qty))
    return result


def part_assignments(part_ids: Iterable[int]) -> dict[int, list[Assignment]]:
    """``{part_id: [Assignment, ...]}`` by box and location, for any number of parts (one
    query); parts without stock are absent."""
    ids = sorted({int(part_id) for part_id in part_ids})
    if not ids:
        return {}
    query = (
        PartLocation.select(Box.box_no, Location.loc_no, Part.id, Part.key, PartLocation.qty)
        .join(Location, on=(PartLocation.location == Location.id))
        .join(Box, on=(Location.box == Box.id))
        .join(Part, on=(PartLocation.part == Part.id))
        .where(one_of(PartLocation.part, ids))
        .order_by(Part.id, Box.box_no, Location.loc_no)
    )
    result: dict[int, list[Assignment]] = defaultdict(list)
    for box_no, loc_no, part_id, key, qty in tuples(query):
        result[part_id].append(Assignment(box_no, loc_no, part_id, key, qty))
    return result


def stock_levels(part_ids: Iterable[int]) -> dict[int, int]:
    """``{part_id: total quantity}`` for any number of parts (one query); no stock: absent."""
    ids = sorted({int(part_id) for part_id in part_ids})
    if not ids:
        return {}
    query = (
        PartLocation.select(PartLocation.part, fn.SUM(PartLocation.qty))
        .where(one_of(PartLocation.part, ids))
        .group_by(PartLocation.part)
    )
    return {part_id: int(total) for part_id, total in tuples(query)}


# --- stock ------------------------------------------------------------------------------------


def _lock_stock(part: Part) -> None:
    """Inside a transaction: wait for, then hold, the turn to change ``part``'s stock.

    Raises :class:`NotFound` if the part was deleted meanwhile.
    """
    if is_sqlite(database):
        return  # the transaction holds SQLite's one write lock
    row: Any = Part.select(Part.id).where(Part.id == part.id)  # peewee's stubs take only a bool
    locked = row.for_update("FOR NO KEY UPDATE").scalar()
    if locked is None:
        raise NotFound(f"part {part.key} does not exist", {"key": part.key})


def _history(part: Part, delta: int, reference: str) -> QuantityHistory:
    return QuantityHistory.create(part=part.id, delta_qty=delta, location_reference=reference)


def _put(part: Part, location: Location, qty: int) -> None:
    now = utcnow()
    PartLocation.insert(
        part=part.id, location=location.id, qty=qty, created_at=now, updated_at=now
    ).on_conflict(
        conflict_target=[PartLocation.part, PartLocation.location],
        update={PartLocation.qty: PartLocation.qty + EXCLUDED.qty, PartLocation.updated_at: now},
    ).execute()


def _take(part: Part, location: Location, qty: int, reference: str) -> None:
    here = (PartLocation.part == part.id) & (PartLocation.location == location.id)
    if PartLocation.delete().where(here & (PartLocation.qty == qty)).execute():
        return
    taken = (
        PartLocation.update(qty=PartLocation.qty - qty, updated_at=utcnow())
        .where(here & (PartLocation.qty > qty))
        .execute()
    )
    if taken:
        return
    held = PartLocation.select(PartLocation.qty).where(here).scalar()
    if not held:
        raise NotFound(
            f"part {part.key} has no stock at {reference}",
            {"key": part.key, "location": reference},
            code="NO_STOCK_AT_LOCATION",
        )
    raise Conflict(
        f"cannot take {qty} of part {part.key} from {reference}: only {held} there",
        {"key": part.key, "location": reference, "available": held, "requested": qty},
        code="INSUFFICIENT_STOCK",
    )


def add_stock(part: Part, box_no: int, loc_no: int, qty: int) -> Assignment:
    """Add ``qty`` (> 0) of the part to a location; return what the location now holds of it.
    Raises :class:`NotFound` for an unknown box or location. Runs in the caller's transaction
    when there is one (as a savepoint)."""
    reference = location_reference(box_no, loc_no)
    try:
        with database.atomic():
            location = get_location(box_no, loc_no)
            _lock_stock(part)
            _put(part, location, qty)
            _history(part, qty, reference)
    except peewee.IntegrityError:  # the location or the part went away meanwhile
        get_location(box_no, loc_no)
        raise
    held = PartLocation.get(
        (PartLocation.part == part.id) & (PartLocation.location == location.id)
    ).qty
    return Assignment(box_no, loc_no, part.id, part.key, held)


def remove_stock(part: Part, box_no: int, loc_no: int, qty: int) -> QuantityHistory:
    """Take ``qty`` (> 0) of the part out of a location; return the history row of the change.
    Raises :class:`NotFound` (unknown location, or no stock of the part there) or
    :class:`Conflict` ``INSUFFICIENT_STOCK``. Runs in the caller's transaction when there is one
    (as a savepoint), so other plugins can take stock atomically with their own changes."""
    reference = location_reference(box_no, loc_no)
    with database.atomic():
        location = get_location(box_no, loc_no)
        _lock_stock(part)
        _take(part, location, qty, reference)
        return _history(part, -qty, reference)


def move_stock(part: Part, source: tuple[int, int], target: tuple[int, int], qty: int) -> None:
    """Move ``qty`` of the part from ``source`` to ``target`` (``(box_no, loc_no)`` each) in one
    transaction: the units are in exactly one of the two places at every moment anyone can see.
    Raises like :func:`remove_stock`; moving to the same location is a 400."""
    if source == target:
        raise ValidationFailed(
            "source and target location are the same",
            {"location": location_reference(*source)},
            code="SAME_LOCATION",
        )
    from_ref, to_ref = location_reference(*source), location_reference(*target)
    with database.atomic():
        from_location = get_location(*source)
        to_location = get_location(*target)
        _lock_stock(part)
        _take(part, from_location, qty, from_ref)
        _put(part, to_location, qty)
        _history(part, -qty, from_ref)
        _history(part, qty, to_ref)


def history(part: Part) -> list[QuantityHistory]:
    """The part's quantity changes, newest first."""
    return list(
        QuantityHistory.select()
        .where(QuantityHistory.part == part.id)
        .order_by(QuantityHistory.created_at.desc(), QuantityHistory.id.desc())
    )


def deletion_blockers(part_id: int) -> list[str]:
    """``["stock at 7-3 (10)", ...]`` for every location holding the part."""
    return [
        f"stock at {location_reference(a.box_no, a.loc_no)} ({a.qty})"
        for a in part_assignments([part_id]).get(part_id, [])
    ]


# --- suggestions ------------------------------------------------------------------------------


def suggest_location(type_id: int) -> tuple[int, int]:
    """A free location for a part of type ``type_id``: the first free one in the box holding
    the most parts of that type, else the first free location of any box (lowest numbers
    first). Raises :class:`NotFound` for an unknown type or when every location is taken."""
    if not PartType.select().where(PartType.id == type_id).exists():
        raise NotFound(f"part type {type_id} does not exist", {"type_id": type_id})
    same_type = (
        Location.select(Location.box.alias("box_id"), fn.COUNT(PartLocation.id).alias("n"))
        .join(PartLocation, on=(PartLocation.location == Location.id))
        .join(Part, on=(PartLocation.part == Part.id))
        .where(Part.part_type == type_id)
        .group_by(Location.box)
        .alias("same_type")
    )
    taken = PartLocation.alias("taken")
    query = (
        Location.select(Box.box_no, Location.loc_no)
        .join(Box, on=(Location.box == Box.id))
        .join(taken, JOIN.LEFT_OUTER, on=(taken.location == Location.id))
        .join(same_type, JOIN.LEFT_OUTER, on=(same_type.c.box_id == Box.id))
        .where(taken.id.is_null())
        .order_by(fn.COALESCE(same_type.c.n, 0).desc(), Box.box_no, Location.loc_no)
        .limit(1)
    )
    row = next(tuples(query), None)
    if row is None:
        raise NotFound("every location of every box is taken", code="NO_FREE_LOCATION")
    return int(row[0]), int(row[1])


def location_json(box_no: int, loc_no: int) -> dict[str, Any]:
    """``{box_no, loc_no}``."""
    return {"box_no": box_no, "loc_no": loc_no}
