"""Request and response schemas of the kits API (pydantic; they document the OpenAPI spec)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, RootModel

from core.plugin_api import (
    MAX_ID,
    BodyId,
    LongText,
    QueryModel,
    RowId,
    SingleLine,
    SingleLineRequired,
    StrictTextBody,
    may_be_absent,
)

#: Upper bound of ``build_target`` and ``required_per_unit`` (keeps products far from overflow).
MAX_QUANTITY = 1_000_000
LIST_LIMIT_MAX = 1000

KitName = Annotated[SingleLineRequired, Field(min_length=1, max_length=255)]
BuildTarget = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
PerUnit = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


# --- paths and queries --------------------------------------------------------------------


class KitPath(BaseModel):
    kit_id: RowId


class KitContentPath(KitPath):
    content_id: RowId


class KitListQuery(QueryModel):
    status: Literal["active", "archived"] | None = Field(
        default=None, description="only kits with this status (default: both)"
    )
    query: SingleLine | None = Field(
        default=None, max_length=200, description="matches name or description, ignoring case"
    )
    limit: int = Field(default=50, ge=1, le=LIST_LIMIT_MAX)
    offset: int = Field(default=0, ge=0, le=MAX_ID)


# --- bodies -------------------------------------------------------------------------------


class KitCreateIn(StrictTextBody):
    name: KitName
    description: LongText = None
    build_target: BuildTarget = 1


class KitUpdateIn(StrictTextBody):
    """``PATCH /api/kits/{id}``: only the fields sent change; ``description: null`` clears it."""

    name: KitName = may_be_absent()
    description: LongText = None
    build_target: BuildTarget = may_be_absent()


class KitContentCreateIn(StrictTextBody):
    part_id: BodyId
    required_per_unit: PerUnit = 1
    note: LongText = None


class KitContentUpdateIn(StrictTextBody):
    """``PATCH .../contents/{id}``: ``version`` is the version read; other fields optional."""

    version: BodyId
    required_per_unit: PerUnit = may_be_absent()
    note: LongText = None


# --- responses (documentation) --------------------------------------------------------------


class KitOut(BaseModel):
    id: int
    name: str
    description: str | None
    status: Literal["active", "archived"]
    build_target: int
    archived_at: str | None
    attachment_set_id: int
    cover_url: str | None
    created_at: str
    updated_at: str


class KitList(RootModel[list[KitOut]]):
    pass


class KitContentPartOut(BaseModel):
    key: str
    description: str
    manufacturer_code: str | None
    cover_url: str | None


class KitContentOut(BaseModel):
    id: int
    part_id: int
    part: KitContentPartOut
    required_per_unit: int
    note: str | None
    version: int
    total_required: int
    in_stock: int
    reserved: int
    available: int
    shortfall: int
    created_at: str
    updated_at: str


class KitDetailOut(KitOut):
    contents: list[KitContentOut]
