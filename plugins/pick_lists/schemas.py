"""Request schemas of the pick lists API (the established UI's contract)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.plugin_api import MAX_ID, RowId, StrictBody

#: The largest number of units one pick list may build.
MAX_UNITS = 10_000
#: The most kits one membership query may name.
MAX_QUERY_KITS = 250

Units = Annotated[int, Field(strict=True, ge=1, le=MAX_UNITS)]


class KitPath(BaseModel):
    kit_id: RowId


class PickListPath(BaseModel):
    pick_list_id: RowId


class LinePath(PickListPath):
    line_id: RowId


class ShortfallActionIn(StrictBody):
    action: Literal["reject", "limit", "omit"]


class PreviewIn(StrictBody):
    requested_units: Units


class PickListIn(StrictBody):
    requested_units: Units
    shortfall_handling: dict[Annotated[str, Field(max_length=32)], ShortfallActionIn] | None = (
        Field(default=None, max_length=1000)
    )


class LineQuantityIn(StrictBody):
    quantity_to_pick: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]


class MembershipQueryIn(StrictBody):
    kit_ids: list[Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=MAX_QUERY_KITS
    )
    include_done: bool = False
