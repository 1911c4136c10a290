"""Shopping lists, their lines, seller groups and kit links: every change runs here, one
transaction per operation.

Workflow:

- a list is ``active`` until it is set ``done``; that is the only transition (anything else is a
  409 ``INVALID_STATUS_TRANSITION`` naming both states), and a done list is read-only (409
  ``SHOPPING_LIST_DONE``) except for its name and description;
- a line is ``new`` while it is planned (its ``ordered`` quantity may change), ``ordered`` once
  its seller group is ordered, ``done`` once completed. Only ordered lines receive stock;
- a line with a seller belongs to the list's group for that seller, created when the first line
  arrives. Ordering a group turns all its new lines ordered at once (each needs an ordered
  quantity above 0); reopening turns them new again unless a line of the group received stock or
  is done; an ordered group takes no new lines and cannot be deleted. Deleting a group makes its
  lines that are not done ungrouped;
- receiving adds to ``received`` and puts the stock into locations through the inventory plugin
  in the same transaction: both happen or neither. Receiving more than ordered is allowed (the
  line then shows a quantity mismatch, and completing it needs a reason);
- a kit push adds each kit line's shortfall for N units to a list (a new one or an active one),
  merging into the part's new line, and remembers the kit in a link; removing the link keeps the
  lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from peewee import EXCLUDED, fn

from core.plugin_api import Conflict, NotFound, ValidationFailed, database, one_of, tuples, utcnow
from plugins.inventory import service as inventory
from plugins.kits.availability import content_lines
from plugins.kits.models import ACTIVE as KIT_ACTIVE
from plugins.kits.models import Kit
from plugins.kits.service import get_kit
from plugins.parts.models import Part
from plugins.sellers.service import get_seller
from plugins.shopping_lists.models import (
    ACTIVE,
    DONE,
    GROUP_ACTIVE,
    GROUP_ORDERED,
    LINE_DONE,
    NEW,
    ORDERED,
    KitShoppingListLink,
    ShoppingList,
    ShoppingListLine,
    ShoppingListSeller,
)

#: The allowed list status transitions.
TRANSITIONS = {(ACTIVE, DONE)}


# --- lists ------------------------------------------------------------------------------------


def get_list(list_id: int) -> ShoppingList:
    """The shopping list. Raises :class:`NotFound`."""
    row = ShoppingList.get_or_none(ShoppingList.id == list_id)
    if row is None:
        raise NotFound(f"shopping list {list_id} does not exist", {"shopping_list_id": list_id})
    return row


def _ensure_active(shopping_list: ShoppingList) -> None:
    if shopping_list.status != ACTIVE:
        raise Conflict(
            f"shopping list {shopping_list.id} is done and can no longer change",
            {"shopping_list_id": shopping_list.id, "status": shopping_list.status},
            code="SHOPPING_LIST_DONE",
        )


def _name_taken(name: str, except_id: int | None = None) -> bool:
    query = ShoppingList.select().where(fn.LOWER(ShoppingList.name) == fn.LOWER(name))
    if except_id is not None:
        query = query.where(ShoppingList.id != except_id)
    return bool(query.exists())


def _name_conflict(name: str) -> Conflict:
    return Conflict(
        f"a shopping list named {name!r} already exists",
        {"name": name},
        code="SHOPPING_LIST_NAME_TAKEN",
    )


def list_lists(statuses: Sequence[str] | None = None, include_done: bool = False) -> list[Any]:
    """Lists, most recently updated first: those with one of ``statuses`` when given, else the
    active ones (and the done ones with ``include_done``). One query."""
    query = ShoppingList.select()
    if statuses:
        query = query.where(ShoppingList.status.in_(list(statuses)))
    elif not include_done:
        query = query.where(ShoppingList.status == ACTIVE)
    return list(query.order_by(ShoppingList.updated_at.desc(), ShoppingList.id.desc()))


def _insert_list(name: str, description: str | None) -> ShoppingList:
    if _name_taken(name):
        raise _name_conflict(name)
    try:
        with database.atomic():
            row: ShoppingList = ShoppingList.create(
                name=name, description=description, status=ACTIVE
            )
    except peewee.IntegrityError:  # the same name arrived meanwhile
        if _name_taken(name):
            raise _name_conflict(name) from None
        raise
    return row


def create_list(name: str, description: str | None = None) -> ShoppingList:
    """A new active list. Raises :class:`Conflict` ``SHOPPING_LIST_NAME_TAKEN`` (names are
    unique ignoring case)."""
    return _insert_list(name, description)


def update_list(list_id: int, changes: dict[str, Any]) -> ShoppingList:
    """Change ``name`` and/or ``description`` (``None`` for ``name`` keeps it; for
    ``description`` it clears it). Allowed on done lists too."""
    shopping_list = get_list(list_id)
    name = changes.get("name")
    if name is not None:
        if _name_taken(name, except_id=list_id):
            raise _name_conflict(name)
        shopping_list.name = name
    if "description" in changes:
        shopping_list.description = changes["description"]
    try:
        shopping_list.save()
    except peewee.IntegrityError:
        if name is not None and _name_taken(name, except_id=list_id):
            raise _name_conflict(name) from None
        raise
    return shopping_list


def set_status(list_id: int, status: str) -> ShoppingList:
    """Move the list to ``status``. The same status is a no-op; ``active -> done`` is the only
    transition, anything else is a 409 ``INVALID_STATUS_TRANSITION`` naming both states."""
    shopping_list = get_list(list_id)
    if shopping_list.status == status:
        return shopping_list
    if (shopping_list.status, status) not in TRANSITIONS:
        raise _transition_conflict(list_id, shopping_list.status, status)
    changed = (
        ShoppingList.update(status=status, updated_at=utcnow())
        .where((ShoppingList.id == list_id) & (ShoppingList.status == shopping_list.status))
        .execute()
    )
    current = get_list(list_id)
    if not changed and current.status != status:
        raise _transition_conflict(list_id, current.status, status)
    return current


def _transition_conflict(list_id: int, current: str, wanted: str) -> Conflict:
    return Conflict(
        f"shopping list {list_id} cannot go from {current} to {wanted}; "
        "the only transition is active to done",
        {"shopping_list_id": list_id, "from": current, "to": wanted},
        code="INVALID_STATUS_TRANSITION",
    )


def delete_list(list_id: int) -> None:
    """Delete the list with its lines, seller groups and kit links (stock already received
    stays)."""
    shopping_list = get_list(list_id)
    with database.atomic():
        KitShoppingListLink.delete().where(
            KitShoppingListLink.shopping_list == shopping_list.id
        ).execute()
        ShoppingListLine.delete().where(
            ShoppingListLine.shopping_list == shopping_list.id
        ).execute()
        ShoppingListSeller.delete().where(
            ShoppingListSeller.shopping_list == shopping_list.id
        ).execute()
        shopping_list.delete_instance()


def _touch(list_id: int) -> None:
    ShoppingList.update(updated_at=utcnow()).where(ShoppingList.id == list_id).execute()


# --- seller groups ----------------------------------------------------------------------------


def get_group(list_id: int, seller_id: int) -> ShoppingListSeller:
    """The list's group for the seller. Raises :class:`NotFound` naming what is missing."""
    get_list(list_id)
    group = ShoppingListSeller.get_or_none(
        (ShoppingListSeller.shopping_list == list_id) & (ShoppingListSeller.seller == seller_id)
    )
    if group is None:
        raise NotFound(
            f"shopping list {list_id} has no seller group for seller {seller_id}",
            {"shopping_list_id": list_id, "seller_id": seller_id},
        )
    return group


def _group_ordered(list_id: int, seller_id: int) -> Conflict:
    return Conflict(
        f"the seller group of seller {seller_id} on shopping list {list_id} is ordered; "
        "reopen it first",
        {"shopping_list_id": list_id, "seller_id": seller_id},
        code="SELLER_GROUP_ORDERED",
    )


def _join_group(list_id: int, seller_id: int) -> None:
    """Make sure the list has an active group for the seller (inside the caller's
    transaction). Raises :class:`Conflict` ``SELLER_GROUP_ORDERED``."""
    now = utcnow()
    ShoppingListSeller.insert(
        shopping_list=list_id,
        seller=seller_id,
        note="",
        status=GROUP_ACTIVE,
        created_at=now,
        updated_at=now,
    ).on_conflict_ignore().execute()
    status = (
        ShoppingListSeller.select(ShoppingListSeller.status)
        .where(
            (ShoppingListSeller.shopping_list == list_id) & (ShoppingListSeller.seller == seller_id)
        )
        .scalar()
    )
    if status != GROUP_ACTIVE:
        raise _group_ordered(list_id, seller_id)


def create_group(list_id: int, seller_id: int) -> ShoppingListSeller:
    """A new, empty, active group. Raises :class:`NotFound` (list or seller), or
    :class:`Conflict` ``SELLER_GROUP_EXISTS`` or ``SHOPPING_LIST_DONE``."""
    shopping_list = get_list(list_id)
    get_seller(seller_id)
    _ensure_active(shopping_list)
    try:
        with database.atomic():
            group: ShoppingListSeller = ShoppingListSeller.create(
                shopping_list=list_id, seller=seller_id, note="", status=GROUP_ACTIVE
            )
            _touch(list_id)
    except peewee.IntegrityError:
        raise Conflict(
            f"shopping list {list_id} already has a seller group for seller {seller_id}",
            {"shopping_list_id": list_id, "seller_id": seller_id},
            code="SELLER_GROUP_EXISTS",
        ) from None
    return group


def update_group(
    list_id: int, seller_id: int, note: str | None, status: str | None
) -> ShoppingListSeller:
    """Change the group's note (``None`` keeps it) and/or status (``None`` keeps it).

    ``ordered`` turns every new line of the group ordered, atomically; each needs an ordered
    quantity above 0 (409 ``ORDERED_QUANTITY_MISSING`` naming the lines) and the group must have
    a line (409 ``SELLER_GROUP_EMPTY``). ``active`` reopens: ordered lines turn new again, unless
    a line received stock or is done (409 ``SELLER_GROUP_HAS_RECEIPTS``).
    """
    group = get_group(list_id, seller_id)
    _ensure_active(get_list(list_id))
    with database.atomic():
        if status is not None and status != group.status:
            if status == GROUP_ORDERED:
                _order_group(group)
            else:
                _reopen_group(group)
        fields: dict[Any, Any] = {ShoppingListSeller.updated_at: utcnow()}
        if note is not None:
            fields[ShoppingListSeller.note] = note
        ShoppingListSeller.update(fields).where(ShoppingListSeller.id == group.id).execute()
        _touch(list_id)
    return get_group(list_id, seller_id)


def _group_lines(group: ShoppingListSeller) -> Any:
    return ShoppingListLine.select().where(
        (ShoppingListLine.shopping_list == group.shopping_list_id)
        & (ShoppingListLine.seller == group.seller_id)
    )


def _order_group(group: ShoppingListSeller) -> None:
    claimed = (
        ShoppingListSeller.update(status=GROUP_ORDERED, updated_at=utcnow())
        .where((ShoppingListSeller.id == group.id) & (ShoppingListSeller.status == GROUP_ACTIVE))
        .execute()
    )
    if not claimed:
        return  # ordered meanwhile by another request: the same outcome
    lines = list(_group_lines(group))
    if not lines:
        raise Conflict(
            f"the seller group of seller {group.seller_id} has no lines to order",
            {"shopping_list_id": group.shopping_list_id, "seller_id": group.seller_id},
            code="SELLER_GROUP_EMPTY",
        )
    missing = [line.id for line in lines if line.status == NEW and line.ordered <= 0]
    if missing:
        raise Conflict(
            "every line needs an ordered quantity before the order is placed; missing on "
            f"line(s) {', '.join(map(str, missing))}",
            {"line_ids": missing, "seller_id": group.seller_id},
            code="ORDERED_QUANTITY_MISSING",
        )
    ShoppingListLine.update(status=ORDERED, updated_at=utcnow()).where(
        (ShoppingListLine.shopping_list == group.shopping_list_id)
        & (ShoppingListLine.seller == group.seller_id)
        & (ShoppingListLine.status == NEW)
    ).execute()


def _reopen_group(group: ShoppingListSeller) -> None:
    claimed = (
        ShoppingListSeller.update(status=GROUP_ACTIVE, updated_at=utcnow())
        .where((ShoppingListSeller.id == group.id) & (ShoppingListSeller.status == GROUP_ORDERED))
        .execute()
    )
    if not claimed:
        return
    busy = [
        line.id for line in _group_lines(group) if line.received > 0 or line.status == LINE_DONE
    ]
    if busy:
        raise Conflict(
            "cannot reopen: line(s) "
            f"{', '.join(map(str, busy))} of the group received stock or are completed",
            {"line_ids": busy, "seller_id": group.seller_id},
            code="SELLER_GROUP_HAS_RECEIPTS",
        )
    ShoppingListLine.update(status=NEW, updated_at=utcnow()).where(
        (ShoppingListLine.shopping_list == group.shopping_list_id)
        & (ShoppingListLine.seller == group.seller_id)
        & (ShoppingListLine.status == ORDERED)
    ).execute()


def delete_group(list_id: int, seller_id: int) -> None:
    """Delete an active group; its lines that are not done become ungrouped. An ordered group
    is a 409 ``SELLER_GROUP_ORDERED``."""
    group = get_group(list_id, seller_id)
    _ensure_active(get_list(list_id))
    with database.atomic():
        deleted = (
            ShoppingListSeller.delete()
            .where(
                (ShoppingListSeller.id == group.id) & (ShoppingListSeller.status == GROUP_ACTIVE)
            )
            .execute()
        )
        if not deleted:
            raise _group_ordered(list_id, seller_id)
        ShoppingListLine.update(seller=None, status=NEW, updated_at=utcnow()).where(
            (ShoppingListLine.shopping_list == list_id)
            & (ShoppingListLine.seller == seller_id)
            & (ShoppingListLine.status != LINE_DONE)
        ).execute()
        _touch(list_id)


# --- lines ------------------------------------------------------------------------------------


def get_line(line_id: int) -> ShoppingListLine:
    """The line. Raises :class:`NotFound`."""
    line = ShoppingListLine.get_or_none(ShoppingListLine.id == line_id)
    if line is None:
        raise NotFound(f"shopping list line {line_id} does not exist", {"line_id": line_id})
    return line


def _part_listed(list_id: int, part: Part) -> Conflict:
    return Conflict(
        f"part {part.key} is already on shopping list {list_id}",
        {"shopping_list_id": list_id, "part_key": part.key},
        code="PART_ALREADY_ON_LIST",
    )


def _get_part(part_id: int) -> Part:
    part = Part.get_or_none(Part.id == part_id)
    if part is None:
        raise NotFound(f"part {part_id} does not exist", {"part_id": part_id})
    return part


def add_line(
    list_id: int, part: Part, needed: int, note: str | None, seller_id: int | None
) -> ShoppingListLine:
    """Add a new line for ``part`` to an active list (with its seller's group). Raises
    :class:`NotFound` (list, seller), or :class:`Conflict` ``SHOPPING_LIST_DONE``,
    ``PART_ALREADY_ON_LIST`` or ``SELLER_GROUP_ORDERED``."""
    shopping_list = get_list(list_id)
    _ensure_active(shopping_list)
    if seller_id is not None:
        get_seller(seller_id)
    try:
        with database.atomic():
            if (
                ShoppingListLine.select()
                .where(
                    (ShoppingListLine.shopping_list == list_id) & (ShoppingListLine.part == part.id)
                )
                .exists()
            ):
                raise _part_listed(list_id, part)
            if seller_id is not None:
                _join_group(list_id, seller_id)
            line: ShoppingListLine = ShoppingListLine.create(
                shopping_list=list_id,
                part=part.id,
                seller=seller_id,
                needed=needed,
                note=note,
                status=NEW,
            )
            _touch(list_id)
    except peewee.IntegrityError:  # the part arrived meanwhile
        raise _part_listed(list_id, part) from None
    return line


def add_line_by_part_id(
    list_id: int, part_id: int, needed: int, note: str | None, seller_id: int | None
) -> ShoppingListLine:
    """:func:`add_line` for a part id (404 when the part does not exist)."""
    return add_line(list_id, _get_part(part_id), needed, note, seller_id)


def _line_conflict(line: ShoppingListLine, what: str, code: str) -> Conflict:
    return Conflict(
        f"line {line.id} is {line.status}: {what}",
        {"line_id": line.id, "status": line.status},
        code=code,
    )


def update_line(line_id: int, changes: dict[str, Any]) -> ShoppingListLine:
    """Apply the fields the client sent. ``needed`` or ``ordered`` ``None``: keep; ``note``
    ``None``: clear; ``seller_id`` ``None``: ungroup. A field sent with its current value
    changes nothing and is always accepted.

    Raises :class:`Conflict`: ``SHOPPING_LIST_DONE``; ``LINE_DONE`` for a new ``needed`` or
    seller of a done line; ``LINE_NOT_NEW`` for a new ``ordered`` quantity or seller of a line
    that is no longer new; ``SELLER_GROUP_ORDERED`` for a move into an ordered group.
    """
    line = get_line(line_id)
    _ensure_active(get_list(line.shopping_list_id))
    fields: dict[Any, Any] = {}
    needed = changes.get("needed")
    if needed is not None and needed != line.needed:
        if line.status == LINE_DONE:
            raise _line_conflict(line, "its needed quantity can no longer change", "LINE_DONE")
        fields[ShoppingListLine.needed] = needed
    ordered = changes.get("ordered")
    if ordered is not None and ordered != line.ordered:
        if line.status != NEW:
            raise _line_conflict(
                line, "the ordered quantity can only change while the line is new", "LINE_NOT_NEW"
            )
        fields[ShoppingListLine.ordered] = ordered
    if "note" in changes and changes["note"] != line.note:
        fields[ShoppingListLine.note] = changes["note"]
    new_seller = line.seller_id
    if "seller_id" in changes and changes["seller_id"] != line.seller_id:
        if line.status != NEW:
            raise _line_conflict(
                line, "its seller can only change while the line is new", "LINE_NOT_NEW"
            )
        new_seller = changes["seller_id"]
        if new_seller is not None:
            get_seller(new_seller)
        fields[ShoppingListLine.seller] = new_seller
    if not fields:
        return line
    fields[ShoppingListLine.updated_at] = utcnow()
    condition = ShoppingListLine.id == line.id
    if ShoppingListLine.ordered in fields or ShoppingListLine.seller in fields:
        condition &= ShoppingListLine.status == NEW
    with database.atomic():
        if ShoppingListLine.seller in fields and new_seller is not None:
            _join_group(line.shopping_list_id, new_seller)
        if not ShoppingListLine.update(fields).where(condition).execute():
            raise _line_conflict(
                get_line(line_id), "it changed meanwhile; reload it", "LINE_NOT_NEW"
            )
        _touch(line.shopping_list_id)
    return get_line(line_id)


def delete_line(line_id: int) -> None:
    """Delete a line of an active list (stock already received stays)."""
    line = get_line(line_id)
    _ensure_active(get_list(line.shopping_list_id))
    with database.atomic():
        ShoppingListLine.delete().where(ShoppingListLine.id == line.id).execute()
        _touch(line.shopping_list_id)


@dataclass(frozen=True)
class Allocation:
    """``qty`` received into location ``loc_no`` of box ``box_no``."""

    box_no: int
    loc_no: int
    qty: int


def receive(line_id: int, receive_qty: int, allocations: Sequence[Allocation]) -> None:
    """Receive ``receive_qty`` of an ordered line into the allocated locations, in one
    transaction: ``received`` grows and the stock arrives, or nothing changes.

    Raises :class:`ValidationFailed` (the allocations do not add up to ``receive_qty``, or name
    a location twice), :class:`NotFound` (an unknown box or location), or :class:`Conflict`
    ``SHOPPING_LIST_DONE`` / ``LINE_NOT_ORDERED``.
    """
    line = get_line(line_id)
    total = sum(allocation.qty for allocation in allocations)
    if total != receive_qty:
        raise ValidationFailed(
            f"the allocations add up to {total}, not to receive_qty {receive_qty}",
            {"receive_qty": receive_qty, "allocated": total},
        )
    places = [(allocation.box_no, allocation.loc_no) for allocation in allocations]
    if len(set(places)) != len(places):
        raise ValidationFailed(
            "each location may appear once in the allocations", {"allocations": places}
        )
    _ensure_active(get_list(line.shopping_list_id))
    part = Part.get_by_id(line.part_id)
    with database.atomic():
        # One conditional increment: concurrent receipts add up, none is lost, and a line that
        # is no longer ordered receives nothing.
        counted = (
            ShoppingListLine.update(
                received=ShoppingListLine.received + receive_qty, updated_at=utcnow()
            )
            .where((ShoppingListLine.id == line.id) & (ShoppingListLine.status == ORDERED))
            .execute()
        )
        if not counted:
            raise _line_conflict(
                get_line(line_id), "only ordered lines can receive stock", "LINE_NOT_ORDERED"
            )
        for allocation in allocations:
            inventory.add_stock(part, allocation.box_no, allocation.loc_no, allocation.qty)
        _touch(line.shopping_list_id)


def complete(line_id: int, mismatch_reason: str | None) -> ShoppingListLine:
    """Mark an ordered line done. When received differs from ordered a ``mismatch_reason`` is
    required (400) and is kept as the completion note. Raises :class:`Conflict`
    ``SHOPPING_LIST_DONE`` / ``LINE_NOT_ORDERED``."""
    line = get_line(line_id)
    _ensure_active(get_list(line.shopping_list_id))
    if line.status != ORDERED:
        raise _line_conflict(line, "only ordered lines can be completed", "LINE_NOT_ORDERED")
    mismatch = line.received != line.ordered
    if mismatch and not mismatch_reason:
        raise ValidationFailed(
            f"line {line_id} received {line.received} of {line.ordered} ordered; "
            "give a mismatch_reason",
            {"field": "mismatch_reason", "received": line.received, "ordered": line.ordered},
        )
    now = utcnow()
    with database.atomic():
        done = (
            ShoppingListLine.update(
                status=LINE_DONE,
                completed_at=now,
                completion_mismatch=mismatch,
                completion_note=mismatch_reason if mismatch else None,
                updated_at=now,
            )
            .where(
                (ShoppingListLine.id == line.id)
                & (ShoppingListLine.status == ORDERED)
                & (ShoppingListLine.received == line.received)
            )
            .execute()
        )
        if not done:
            raise _line_conflict(
                get_line(line_id), "it changed meanwhile; reload it", "LINE_NOT_ORDERED"
            )
        _touch(line.shopping_list_id)
    return get_line(line_id)


# --- kit pushes and links ---------------------------------------------------------------------


@dataclass
class PushResult:
    """What a kit push did: ``noop`` when no line needed anything (then nothing changed)."""

    shopping_list: ShoppingList | None
    link: KitShoppingListLink | None
    created_new_list: bool
    lines_modified: int
    total_needed_quantity: int

    @property
    def noop(self) -> bool:
        return self.lines_modified == 0


def push_kit(
    kit_id: int,
    *,
    units: int | None,
    honor_reserved: bool,
    shopping_list_id: int | None,
    new_list_name: str | None,
    new_list_description: str | None,
    note_prefix: str | None,
) -> PushResult:
    """Add what the kit lacks for ``units`` units (default: its build target) to a list.

    Per kit line: needed = ``required_per_unit x units`` minus the stock in hand (minus what
    other active kits reserve when ``honor_reserved``), when above 0. The target is the active
    list ``shopping_list_id`` or a new list ``new_list_name`` (exactly one of them, unless
    nothing is lacking: then nothing changes, and no target is needed). A part
    already on the list gets its new line's ``needed`` raised; the link kit -> list records the
    units, the choice and the kit's ``updated_at``. Raises :class:`NotFound`,
    :class:`ValidationFailed`, or :class:`Conflict` ``KIT_ARCHIVED``, ``SHOPPING_LIST_DONE``,
    ``SHOPPING_LIST_NAME_TAKEN`` or ``LINE_NOT_NEW`` (a part's line is already ordered or done;
    nothing changes).
    """
    kit = get_kit(kit_id)
    if kit.status != KIT_ACTIVE:
        raise Conflict(
            f"kit {kit_id} is archived; unarchive it first",
            {"kit_id": kit_id},
            code="KIT_ARCHIVED",
        )
    target = None
    if shopping_list_id is not None:
        target = get_list(shopping_list_id)
        _ensure_active(target)
    units = units or kit.build_target
    needs: list[tuple[Any, int]] = []
    for row in content_lines(kit):
        usable = row.in_stock - (row.reserved if honor_reserved else 0)
        lacking = row.content.required_per_unit * units - max(usable, 0)
        if lacking > 0:
            needs.append((row, lacking))
    if not needs:
        return PushResult(target, None, False, 0, 0)
    if (shopping_list_id is None) == (new_list_name is None):
        raise ValidationFailed(
            "give either shopping_list_id (an active list) or new_list_name",
            {"shopping_list_id": shopping_list_id, "new_list_name": new_list_name},
        )
    if new_list_name is not None and _name_taken(new_list_name):
        raise _name_conflict(new_list_name)
    try:
        return _apply_push(
            kit,
            units,
            honor_reserved,
            target,
            needs,
            note_prefix,
            new_list_name,
            new_list_description,
        )
    except peewee.IntegrityError:  # another request added one of the parts meanwhile
        raise Conflict(
            f"the shopping list changed while kit {kit_id} was pushed to it; try again",
            {"kit_id": kit_id, "shopping_list_id": shopping_list_id},
            code="SHOPPING_LIST_CHANGED",
        ) from None


def _apply_push(
    kit: Kit,
    units: int,
    honor_reserved: bool,
    target: ShoppingList | None,
    needs: list[tuple[Any, int]],
    note_prefix: str | None,
    new_list_name: str | None,
    new_list_description: str | None,
) -> PushResult:
    with database.atomic():
        created = target is None
        if target is None:
            target = _insert_list(new_list_name or "", new_list_description)
        part_ids = [row.part.id for row, _n in needs]
        existing = {
            line.part_id: line
            for line in ShoppingListLine.select().where(
                (ShoppingListLine.shopping_list == target.id)
                & (ShoppingListLine.part.in_(part_ids))
            )
        }
        locked = [row.part.key for row, _n in needs if _is_locked(existing.get(row.part.id))]
        if locked:
            raise Conflict(
                f"the lines of {', '.join(locked)} on shopping list {target.id} are already "
                "ordered or done; push to another list",
                {"shopping_list_id": target.id, "part_keys": locked},
                code="LINE_NOT_NEW",
            )
        now = utcnow()
        fresh = []
        for row, lacking in needs:
            if row.part.id in existing:
                ShoppingListLine.update(
                    needed=ShoppingListLine.needed + lacking, updated_at=now
                ).where(ShoppingListLine.id == existing[row.part.id].id).execute()
            else:
                fresh.append(
                    {
                        "shopping_list": target.id,
                        "part": row.part.id,
                        "needed": lacking,
                        "ordered": 0,
                        "received": 0,
                        "note": row.content.note or note_prefix,
                        "status": NEW,
                        "completion_mismatch": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if fresh:
            ShoppingListLine.insert_many(fresh).execute()
        KitShoppingListLink.insert(
            kit=kit.id,
            shopping_list=target.id,
            requested_units=units,
            honor_reserved=honor_reserved,
            snapshot_kit_updated_at=kit.updated_at,
            created_at=now,
            updated_at=now,
        ).on_conflict(
            conflict_target=[KitShoppingListLink.kit, KitShoppingListLink.shopping_list],
            update={
                KitShoppingListLink.requested_units: EXCLUDED.requested_units,
                KitShoppingListLink.honor_reserved: EXCLUDED.honor_reserved,
                KitShoppingListLink.snapshot_kit_updated_at: EXCLUDED.snapshot_kit_updated_at,
                KitShoppingListLink.updated_at: now,
            },
        ).execute()
        _touch(target.id)
    link = KitShoppingListLink.get(
        (KitShoppingListLink.kit == kit.id) & (KitShoppingListLink.shopping_list == target.id)
    )
    return PushResult(
        get_list(target.id), link, created, len(needs), sum(lacking for _row, lacking in needs)
    )


def _is_locked(line: ShoppingListLine | None) -> bool:
    return line is not None and line.status != NEW


def delete_link(link_id: int) -> None:
    """Forget which kit filled a list; the list's lines stay. Raises :class:`NotFound`."""
    if not KitShoppingListLink.delete().where(KitShoppingListLink.id == link_id).execute():
        raise NotFound(f"kit shopping list link {link_id} does not exist", {"link_id": link_id})


def links_of_kits(
    kit_ids: Iterable[int], include_done: bool = True
) -> dict[int, list[tuple[KitShoppingListLink, ShoppingList, Kit]]]:
    """``{kit_id: [(link, list, kit), ...]}`` newest link first, for any number of kits (one
    query); every given kit is a key. Links to done lists only with ``include_done``."""
    ids = sorted({int(kit_id) for kit_id in kit_ids})
    result: dict[int, list[tuple[KitShoppingListLink, ShoppingList, Kit]]] = {i: [] for i in ids}
    if not ids:
        return result
    query = (
        KitShoppingListLink.select(KitShoppingListLink, ShoppingList, Kit)
        .join(ShoppingList, on=(KitShoppingListLink.shopping_list == ShoppingList.id))
        .switch(KitShoppingListLink)
        .join(Kit, on=(KitShoppingListLink.kit == Kit.id))
        .where(one_of(KitShoppingListLink.kit, ids))
        .order_by(KitShoppingListLink.created_at.desc(), KitShoppingListLink.id.desc())
    )
    if not include_done:
        query = query.where(ShoppingList.status == ACTIVE)
    for link in query:
        result[link.kit_id].append((link, link.shopping_list, link.kit))
    return result


def links_of_list(list_id: int) -> list[tuple[KitShoppingListLink, ShoppingList, Kit]]:
    """The list's kit links, by kit name (one query after the list's)."""
    get_list(list_id)
    query = (
        KitShoppingListLink.select(KitShoppingListLink, ShoppingList, Kit)
        .join(ShoppingList, on=(KitShoppingListLink.shopping_list == ShoppingList.id))
        .switch(KitShoppingListLink)
        .join(Kit, on=(KitShoppingListLink.kit == Kit.id))
        .where(KitShoppingListLink.shopping_list == list_id)
        .order_by(fn.LOWER(Kit.name), KitShoppingListLink.id)
    )
    return [(link, link.shopping_list, link.kit) for link in query]


def missing_kits(kit_ids: Iterable[int]) -> list[int]:
    """The given kit ids that do not exist (one query)."""
    ids = sorted({int(kit_id) for kit_id in kit_ids})
    found = {kit_id for (kit_id,) in tuples(Kit.select(Kit.id).where(Kit.id.in_(ids)))}
    return [kit_id for kit_id in ids if kit_id not in found]


# --- memberships and blockers -----------------------------------------------------------------


def lines_of_parts(
    part_ids: Iterable[int], include_done: bool = False
) -> dict[int, list[tuple[ShoppingListLine, ShoppingList]]]:
    """``{part_id: [(line, list), ...]}`` by list name, for any number of parts (one query);
    parts on no list are absent. Without ``include_done``, done lists and done lines are left
    out."""
    ids = sorted({int(part_id) for part_id in part_ids})
    if not ids:
        return {}
    query = (
        ShoppingListLine.select(ShoppingListLine, ShoppingList)
        .join(ShoppingList, on=(ShoppingListLine.shopping_list == ShoppingList.id))
        .where(one_of(ShoppingListLine.part, ids))
        .order_by(fn.LOWER(ShoppingList.name), ShoppingList.id)
    )
    if not include_done:
        query = query.where(
            (ShoppingList.status == ACTIVE) & (ShoppingListLine.status != LINE_DONE)
        )
    result: dict[int, list[tuple[ShoppingListLine, ShoppingList]]] = defaultdict(list)
    for line in query:
        result[line.part_id].append((line, line.shopping_list))
    return result


def _list_names(query: Any) -> list[str]:
    return [name for (name,) in tuples(query)]


def seller_deletion_blockers(seller_id: int) -> list[str]:
    """The lists whose lines buy from the seller or that hold a group for it (two queries)."""
    with_lines = (
        ShoppingList.select(ShoppingList.name)
        .join(ShoppingListLine, on=(ShoppingListLine.shopping_list == ShoppingList.id))
        .where(ShoppingListLine.seller == seller_id)
        .distinct()
        .order_by(ShoppingList.name)
    )
    with_groups = (
        ShoppingList.select(ShoppingList.name)
        .join(ShoppingListSeller, on=(ShoppingListSeller.shopping_list == ShoppingList.id))
        .where(ShoppingListSeller.seller == seller_id)
        .order_by(ShoppingList.name)
    )
    reasons = [f"shopping list {name!r} (lines)" for name in _list_names(with_lines)]
    reasons += [f"shopping list {name!r} (seller group)" for name in _list_names(with_groups)]
    return reasons


def part_deletion_blockers(part_id: int) -> list[str]:
    """The lists the part is on (one query)."""
    query = (
        ShoppingList.select(ShoppingList.name)
        .join(ShoppingListLine, on=(ShoppingListLine.shopping_list == ShoppingList.id))
        .where(ShoppingListLine.part == part_id)
        .order_by(ShoppingList.name)
    )
    return [f"shopping list {name!r}" for name in _list_names(query)]


def kit_links_of_kits(
    kit_ids: Iterable[int], include_done: bool = True
) -> dict[int, list[dict[str, Any]]]:
    """``{kit_id: [link json, ...]}`` for the kit detail's ``shopping_list_links`` (the
    contract's ``KitShoppingListLinkSchema``, newest first; links to done lists only with
    ``include_done``), every given kit a key; one query whatever the number of kits."""
    from plugins.shopping_lists import views

    return {
        kit_id: [views.link_json(link, row, kit) for link, row, kit in links]
        for kit_id, links in links_of_kits(kit_ids, include_done=include_done).items()
    }
