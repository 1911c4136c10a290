"""Request schemas of the shopping lists API (the established UI's contract)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from core.plugin_api import (
    BodyId,
    LongText,
    MultiLine,
    QueryModel,
    RowId,
    SingleLineRequired,
    StrictTextBody,
)
from plugins.parts.schemas import PartKey

#: Largest quantity one line may need, order or receive at once (keeps sums far from overflow).
MAX_QTY = 1_000_000
#: The most kit units one push may plan for.
MAX_UNITS = 10_000
#: The most ids one membership query may name.
MAX_QUERY_IDS = 250
#: The most locations one receipt may fill.
MAX_ALLOCATIONS = 100


def _json_integer(value: Any) -> Any:
    # JSON Schema's integer includes 7.0, but never true or "7" (pydantic would take both).
    if isinstance(value, (bool, str)):
        raise ValueError("must be a JSON integer")
    return value


Qty = Annotated[int, Field(ge=1, le=MAX_QTY), BeforeValidator(_json_integer)]
OrderedQty = Annotated[int, Field(ge=0, le=MAX_QTY), BeforeValidator(_json_integer)]
Units = Annotated[int, Field(ge=1, le=MAX_UNITS), BeforeValidator(_json_integer)]
ListName = Annotated[SingleLineRequired, Field(min_length=1, max_length=255)]
ListStatus = Literal["active", "done"]
GroupStatus = Literal["active", "ordered"]


class ListPath(BaseModel):
    list_id: RowId


class GroupPath(ListPath):
    seller_id: RowId


class LinePath(BaseModel):
    line_id: RowId


class LinkPath(BaseModel):
    link_id: RowId


class KitPath(BaseModel):
    kit_id: RowId


class PartKeyPath(BaseModel):
    part_key: PartKey


class ListsQuery(QueryModel):
    include_done: bool = Field(default=False, description="include lists whose status is done")
    status: list[ListStatus] | None = Field(
        default=None,
        description="only lists with one of these statuses (`?status=active&status=done`)",
    )


class ListIn(StrictTextBody):
    name: ListName
    description: LongText = None


class ListUpdateIn(StrictTextBody):
    name: ListName | None = None
    description: LongText = None


class StatusIn(StrictTextBody):
    status: ListStatus


class LineIn(StrictTextBody):
    part_id: BodyId
    needed: Qty
    note: LongText = None
    seller_id: BodyId | None = None


class LineUpdateIn(StrictTextBody):
    """The fields to change: ``needed``/``ordered`` ``null`` keep the value; ``note``/
    ``seller_id`` ``null`` clear it (ungroup the line)."""

    needed: Qty | None = None
    ordered: OrderedQty | None = None
    note: LongText = None
    seller_id: BodyId | None = None


class AllocationIn(StrictTextBody):
    box_no: BodyId
    loc_no: BodyId
    qty: Qty


class ReceiveIn(StrictTextBody):
    receive_qty: Qty
    allocations: list[AllocationIn] = Field(min_length=1, max_length=MAX_ALLOCATIONS)


class CompleteIn(StrictTextBody):
    mismatch_reason: LongText = None


class GroupIn(StrictTextBody):
    seller_id: BodyId


class GroupUpdateIn(StrictTextBody):
    note: Annotated[MultiLine, Field(max_length=10_000)] | None = None
    status: GroupStatus | None = None


class KitPushIn(StrictTextBody):
    units: Units | None = None
    honor_reserved: bool = False
    shopping_list_id: BodyId | None = None
    new_list_name: ListName | None = None
    new_list_description: LongText = None
    note_prefix: LongText = None


class PartMembershipIn(StrictTextBody):
    shopping_list_id: BodyId
    needed: Qty
    note: LongText = None
    seller_id: BodyId | None = None


class PartMembershipQueryIn(StrictTextBody):
    part_keys: list[PartKey] = Field(min_length=1, max_length=MAX_QUERY_IDS)
    include_done: bool | None = False


class KitMembershipQueryIn(StrictTextBody):
    kit_ids: list[BodyId] = Field(min_length=1, max_length=MAX_QUERY_IDS)
    include_done: bool = False
