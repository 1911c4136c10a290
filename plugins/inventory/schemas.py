"""Request and response schemas of the inventory API (the established UI's contract)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, RootModel

from core.plugin_api import (
    BodyId,
    QueryModel,
    RowId,
    SingleLineRequired,
    StrictTextBody,
    WholeNumber,
)
from plugins.inventory.models import MAX_CAPACITY
from plugins.parts.schemas import PartPath

#: Largest quantity one request may add, remove or move (keeps sums far from overflow).
MAX_QTY = 1_000_000

Capacity = Annotated[int, Field(ge=1, le=MAX_CAPACITY), WholeNumber]
BoxDescription = Annotated[SingleLineRequired, Field(min_length=1, max_length=255)]
Qty = Annotated[int, Field(ge=1, le=MAX_QTY), WholeNumber]
#: A box or location number in a JSON body (``"3"`` and ``true`` are refused).
BodyNumber = BodyId

__all__ = ["PartPath"]


class BoxPath(BaseModel):
    box_no: RowId


class LocationPath(BoxPath):
    loc_no: RowId


class TypePath(BaseModel):
    type_id: RowId


class BoxLocationsQuery(QueryModel):
    include_parts: bool = Field(
        default=False, description="add `is_occupied` and `part_assignments` to each location"
    )


class BoxIn(StrictTextBody):
    description: BoxDescription
    capacity: Capacity


class StockIn(StrictTextBody):
    box_no: BodyNumber
    loc_no: BodyNumber
    qty: Qty


class MoveIn(StrictTextBody):
    from_box_no: BodyNumber
    from_loc_no: BodyNumber
    to_box_no: BodyNumber
    to_loc_no: BodyNumber
    qty: Qty


class LocationOut(BaseModel):
    box_no: int
    loc_no: int


class LocationList(RootModel[list[LocationOut]]):
    pass


class PartAssignmentOut(BaseModel):
    key: str
    qty: int
    manufacturer_code: str | None
    description: str
    cover_url: str | None


class LocationWithPartsOut(LocationOut):
    is_occupied: bool
    part_assignments: list[PartAssignmentOut]


class BoxOut(BaseModel):
    box_no: int
    description: str
    capacity: int
    attachment_set_id: int
    cover_url: str | None
    created_at: str
    updated_at: str
    locations: list[LocationOut]


class BoxUsageOut(BaseModel):
    box_no: int
    total_locations: int
    occupied_locations: int
    available_locations: int
    usage_percentage: float


class BoxWithUsageOut(BoxUsageOut):
    description: str
    capacity: int
    attachment_set_id: int
    cover_url: str | None
    created_at: str
    updated_at: str


class BoxList(RootModel[list[BoxWithUsageOut]]):
    pass


class PartLocationOut(BaseModel):
    key: str
    box_no: int
    loc_no: int
    qty: int


class HistoryOut(BaseModel):
    id: int
    delta_qty: int
    location_reference: str | None
    timestamp: str


class HistoryList(RootModel[list[HistoryOut]]):
    pass


class LowStockQuery(QueryModel):
    threshold: int = Field(default=5, ge=0, le=MAX_QTY)


class RecentActivityQuery(QueryModel):
    limit: int = Field(default=20, ge=1, le=1000)
