"""Request schemas of the pick lists API (the established UI's contract)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from core.plugin_api import BodyId, RowId, StrictBody, WholeNumber

#: The largest number of units one pick list may build.
MAX_UNITS = 10_000
#: The most kits one membership query may name.
MAX_QUERY_KITS = 250

PartKeyText = Annotated[str, Field(max_length=32)]
Units = Annotated[int, Field(ge=1, le=MAX_UNITS), WholeNumber]


class PickListKitPath(BaseModel):
    kit_id: RowId


class PickListPath(BaseModel):
    pick_list_id: RowId


class PickListLinePath(PickListPath):
    line_id: RowId


class PickListShortfallActionIn(StrictBody):
    action: Literal["reject", "limit", "omit"]


class PickListPreviewIn(StrictBody):
    requested_units: Units


class PickListCreateIn(StrictBody):
    requested_units: Units
    shortfall_handling: dict[PartKeyText, PickListShortfallActionIn] | None = Field(
        default=None, max_length=1000
    )


class PickListLineQuantityIn(StrictBody):
    quantity_to_pick: Annotated[int, Field(ge=0, le=1_000_000_000), WholeNumber]


class PickListMembershipQueryIn(StrictBody):
    kit_ids: list[BodyId] = Field(
        min_length=1, max_length=MAX_QUERY_KITS
    )
    include_done: bool = False
