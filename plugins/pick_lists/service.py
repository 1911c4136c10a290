"""Pick lists: preview, create with allocations, pick, undo, change a line, delete.

Allocation: a part's *usable* stock in a location is what the location holds minus what open
lines of open pick lists already plan to take from it. A new list needs ``required_per_unit x
requested_units`` of each kit line; it allocates it over the part's locations in box and location
order. When usable stock falls short, the line's shortfall action decides: ``reject`` (the
default: the list is refused with 409 naming every short part), ``limit`` (allocate what is
usable) or ``omit`` (leave the part out).

Picking a line takes its quantity out of its location through the inventory plugin, in the same
transaction as the line's status (a line is picked once: a concurrent second pick is a 409, and
stock never goes below zero); undoing puts it back. A list is ``completed`` exactly when no line
is open.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from peewee import fn

from core.plugin_api import Conflict, NotFound, database, one_of, tuples, utcnow
from plugins.inventory import service as inventory
from plugins.inventory.models import Box, Location, PartLocation
from plugins.kits.models import ACTIVE, Kit, KitContent
from plugins.kits.service import get_kit
from plugins.parts.models import Part
from plugins.pick_lists.models import COMPLETED, OPEN, PickList, PickListLine

SHORTFALL_ACTIONS = ("reject", "limit", "omit")


@dataclass
class PartNeed:
    """What one kit line needs for the requested units, and where usable stock is."""

    content: KitContent
    part: Part
    required: int
    #: ``[(location_id, box_no, loc_no, usable quantity)]`` in box and location order.
    locations: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return sum(quantity for *_where, quantity in self.locations)

    @property
    def shortfall(self) -> int:
        return max(self.required - self.usable, 0)


def _planned_by_open_lines(part_ids: list[int]) -> dict[tuple[int, int], int]:
    """``{(part_id, location_id): quantity}`` open lines of open pick lists plan to take."""
    query = (
        PickListLine.select(
            KitContent.part, PickListLine.location, fn.SUM(PickListLine.quantity_to_pick)
        )
        .join(KitContent, on=(PickListLine.kit_content == KitContent.id))
        .join(PickList, on=(PickListLine.pick_list == PickList.id))
        .where(
            KitContent.part.in_(part_ids)
            & (PickListLine.status == OPEN)
            & (PickList.status == OPEN)
        )
        .group_by(KitContent.part, PickListLine.location)
    )
    return {(part_id, location_id): int(n) for part_id, location_id, n in tuples(query)}


def needs(kit: Kit, units: int) -> list[PartNeed]:
    """Each kit line's need for ``units`` units with its usable stock per location (three
    queries whatever the number of lines)."""
    rows = list(
        KitContent.select(KitContent, Part)
        .join(Part, on=(KitContent.part == Part.id))
        .where(KitContent.kit == kit.id)
        .order_by(Part.key)
    )
    if not rows:
        return []
    part_ids = [row.part_id for row in rows]
    planned = _planned_by_open_lines(part_ids)
    stock = (
        PartLocation.select(
            PartLocation.part, Location.id, Box.box_no, Location.loc_no, PartLocation.qty
        )
        .join(Location, on=(PartLocation.location == Location.id))
        .join(Box, on=(Location.box == Box.id))
        .where(PartLocation.part.in_(part_ids))
        .order_by(Box.box_no, Location.loc_no)
    )
    where: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for part_id, location_id, box_no, loc_no, qty in tuples(stock):
        usable = qty - planned.get((part_id, location_id), 0)
        if usable > 0:
            where[part_id].append((location_id, box_no, loc_no, usable))
    return [
        PartNeed(row, row.part, row.required_per_unit * units, where.get(row.part_id, []))
        for row in rows
    ]


def preview(kit_id: int, units: int) -> list[PartNeed]:
    """The kit's lines whose usable stock is short of what ``units`` units need."""
    return [need for need in needs(get_kit(kit_id), units) if need.shortfall]


def create_pick_list(kit_id: int, units: int, handling: Mapping[str, str]) -> PickList:
    """Create an open pick list for ``units`` units of an active kit, with one line per
    location allocated. ``handling`` maps part keys to shortfall actions (default ``reject``).

    Raises :class:`NotFound`, or :class:`Conflict`: ``KIT_ARCHIVED``, ``PICK_LIST_SHORTFALL``
    (``details.parts`` lists each short part) or ``NOTHING_TO_PICK``.
    """
    kit = get_kit(kit_id)
    if kit.status != ACTIVE:
        raise Conflict(f"kit {kit_id} is archived; unarchive it first", code="KIT_ARCHIVED")
    plan: list[tuple[PartNeed, list[tuple[int, int]]]] = []
    rejected = []
    for need in needs(kit, units):
        wanted = need.required
        if need.shortfall:
            action = handling.get(need.part.key, "reject")
            if action == "reject":
                rejected.append(need)
                continue
            if action == "omit":
                continue
            wanted = need.usable
        allocation = []
        for location_id, _box_no, _loc_no, usable in need.locations:
            if wanted <= 0:
                break
            take = min(usable, wanted)
            allocation.append((location_id, take))
            wanted -= take
        if allocation:
            plan.append((need, allocation))
    if rejected:
        raise Conflict(
            "not enough usable stock for "
            + ", ".join(f"{n.part.key} (short {n.shortfall})" for n in rejected)
            + "; choose limit or omit for these parts, or add stock",
            {"parts": [shortfall_json(n) for n in rejected]},
            code="PICK_LIST_SHORTFALL",
        )
    if not plan:
        raise Conflict(
            f"kit {kit_id} has nothing to pick for {units} unit(s)", code="NOTHING_TO_PICK"
        )
    with database.atomic():
        pick_list = PickList.create(kit=kit.id, requested_units=units, status=OPEN)
        now = utcnow()
        PickListLine.insert_many(
            [
                {
                    "pick_list": pick_list.id,
                    "kit_content": need.content.id,
                    "location": location_id,
                    "quantity_to_pick": quantity,
                    "status": OPEN,
                    "created_at": now,
                    "updated_at": now,
                }
                for need, allocation in plan
                for location_id, quantity in allocation
            ]
        ).execute()
    return pick_list


def shortfall_json(need: PartNeed) -> dict[str, object]:
    """``{part_key, required_quantity, usable_quantity, shortfall_amount}``."""
    return {
        "part_key": need.part.key,
        "required_quantity": need.required,
        "usable_quantity": need.usable,
        "shortfall_amount": need.shortfall,
    }


def get_pick_list(pick_list_id: int) -> PickList:
    """The pick list. Raises :class:`NotFound`."""
    row = PickList.get_or_none(PickList.id == pick_list_id)
    if row is None:
        raise NotFound(f"pick list {pick_list_id} does not exist", {"pick_list_id": pick_list_id})
    return row


def get_line(pick_list_id: int, line_id: int) -> PickListLine:
    """Line ``line_id`` of the pick list. Raises :class:`NotFound`."""
    get_pick_list(pick_list_id)
    line = PickListLine.get_or_none(
        (PickListLine.id == line_id) & (PickListLine.pick_list == pick_list_id)
    )
    if line is None:
        raise NotFound(
            f"pick list {pick_list_id} has no line {line_id}",
            {"pick_list_id": pick_list_id, "line_id": line_id},
        )
    return line


def _line_place(line: PickListLine) -> tuple[Part, int, int]:
    query = (
        PickListLine.select(KitContent.part, Box.box_no, Location.loc_no)
        .join(KitContent, on=(PickListLine.kit_content == KitContent.id))
        .switch(PickListLine)
        .join(Location, on=(PickListLine.location == Location.id))
        .join(Box, on=(Location.box == Box.id))
        .where(PickListLine.id == line.id)
    )
    part_id, box_no, loc_no = next(tuples(query))
    return Part.get_by_id(part_id), box_no, loc_no


def _refresh_status(pick_list_id: int) -> None:
    still_open = PickListLine.select().where(
        (PickListLine.pick_list == pick_list_id) & (PickListLine.status == OPEN)
    )
    now = utcnow()
    if still_open.exists():
        PickList.update(status=OPEN, completed_at=None, updated_at=now).where(
            PickList.id == pick_list_id
        ).execute()
    else:
        PickList.update(status=COMPLETED, completed_at=now, updated_at=now).where(
            (PickList.id == pick_list_id) & (PickList.status == OPEN)
        ).execute()


def pick_line(pick_list_id: int, line_id: int) -> None:
    """Take the line's quantity out of its location and mark it picked, atomically.

    Raises :class:`NotFound`, or :class:`Conflict` ``LINE_ALREADY_PICKED`` or the inventory's
    ``INSUFFICIENT_STOCK`` (then nothing changes).
    """
    line = get_line(pick_list_id, line_id)
    with database.atomic():
        claimed = (
            PickListLine.update(status=COMPLETED, picked_at=utcnow(), updated_at=utcnow())
            .where((PickListLine.id == line.id) & (PickListLine.status == OPEN))
            .execute()
        )
        if not claimed:
            raise Conflict(
                f"line {line_id} of pick list {pick_list_id} is already picked",
                {"pick_list_id": pick_list_id, "line_id": line_id},
                code="LINE_ALREADY_PICKED",
            )
        change_id = None
        if line.quantity_to_pick:
            part, box_no, loc_no = _line_place(line)
            change_id = inventory.remove_stock(part, box_no, loc_no, line.quantity_to_pick).id
        PickListLine.update(inventory_change_id=change_id).where(
            PickListLine.id == line.id
        ).execute()
        _refresh_status(pick_list_id)


def undo_line(pick_list_id: int, line_id: int) -> None:
    """Put a picked line's quantity back into its location and reopen the line (and the list).

    Raises :class:`NotFound`, or :class:`Conflict` ``LINE_NOT_PICKED``.
    """
    line = get_line(pick_list_id, line_id)
    with database.atomic():
        reopened = (
            PickListLine.update(
                status=OPEN, picked_at=None, inventory_change_id=None, updated_at=utcnow()
            )
            .where((PickListLine.id == line.id) & (PickListLine.status == COMPLETED))
            .execute()
        )
        if not reopened:
            raise Conflict(
                f"line {line_id} of pick list {pick_list_id} is not picked",
                {"pick_list_id": pick_list_id, "line_id": line_id},
                code="LINE_NOT_PICKED",
            )
        if line.quantity_to_pick:
            part, box_no, loc_no = _line_place(line)
            inventory.add_stock(part, box_no, loc_no, line.quantity_to_pick)
        _refresh_status(pick_list_id)


def set_line_quantity(pick_list_id: int, line_id: int, quantity: int) -> None:
    """Change an open line's quantity (0: skip it); a picked one is a 409
    ``LINE_ALREADY_PICKED``."""
    line = get_line(pick_list_id, line_id)
    with database.atomic():
        changed = (
            PickListLine.update(quantity_to_pick=quantity, updated_at=utcnow())
            .where((PickListLine.id == line.id) & (PickListLine.status == OPEN))
            .execute()
        )
        if not changed:
            raise Conflict(
                f"line {line_id} of pick list {pick_list_id} is already picked; undo it first",
                {"pick_list_id": pick_list_id, "line_id": line_id},
                code="LINE_ALREADY_PICKED",
            )
        PickList.update(updated_at=utcnow()).where(PickList.id == pick_list_id).execute()


def delete_pick_list(pick_list_id: int) -> None:
    """Delete the list and its lines; stock already picked stays picked (its history stays)."""
    pick_list = get_pick_list(pick_list_id)
    with database.atomic():
        PickListLine.delete().where(PickListLine.pick_list == pick_list.id).execute()
        pick_list.delete_instance()


def lists_of_kits(kit_ids: Iterable[int], include_done: bool = True) -> dict[int, list[PickList]]:
    """``{kit_id: [pick list, newest first]}`` for any number of kits (one query)."""
    ids = sorted({int(kit_id) for kit_id in kit_ids})
    result: dict[int, list[PickList]] = {kit_id: [] for kit_id in ids}
    if not ids:
        return result
    query = PickList.select().where(one_of(PickList.kit, ids))
    if not include_done:
        query = query.where(PickList.status == OPEN)
    for row in query.order_by(PickList.created_at.desc(), PickList.id.desc()):
        result[row.kit_id].append(row)
    return result


def missing_kits(kit_ids: Iterable[int]) -> list[int]:
    """The given kit ids that do not exist (one query)."""
    ids = sorted({int(kit_id) for kit_id in kit_ids})
    found = {kit_id for (kit_id,) in tuples(Kit.select(Kit.id).where(Kit.id.in_(ids)))}
    return [kit_id for kit_id in ids if kit_id not in found]
