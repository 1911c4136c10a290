"""Request and response schemas of the parts API (pydantic; they document the OpenAPI spec).

Request bodies refuse unknown fields; optional text that is blank becomes ``None``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, RootModel, field_validator, model_validator

from core.plugin_api import (
    HTTP_URL_SCHEMA,
    MAX_ID,
    BodyId,
    MultiLineRequired,
    OptionalQueryId,
    QueryModel,
    RowId,
    SingleLine,
    SingleLineRequired,
    StrictTextBody,
    Text50,
    Text100,
    Text255,
    Text500,
    TextPattern,
    may_be_absent,
)
from plugins.parts.keys import KEY_PATTERN

MAX_TAGS = 50
TAG_MAX_LENGTH = 50
MAX_INCLUDE_TOKENS = 10
INCLUDE_MAX_LENGTH = 200
#: ``include=`` tokens of ``GET /api/parts``: ``cover`` (``cover_url`` is always there; the token
#: is accepted for clarity), ``kits`` (each part's kit usages), ``locations`` (where it is
#: stored), ``shopping_lists`` (its shopping-list lines), ``stock`` (``in_stock``, a Partsbin
#: alias of ``total_quantity``).
INCLUDE_TOKENS = ("cover", "kits", "locations", "shopping_lists", "stock")
LIST_LIMIT_MAX = 1000
CURSOR_MAX_LENGTH = 100


def normalize_tags(tags: list[str] | None) -> list[str]:
    """Drop blank tags and repeats (first occurrence wins); ``None`` is ``[]``."""
    result: list[str] = []
    for tag in tags or []:
        if tag and tag not in result:
            result.append(tag)
    return result


def parse_include(value: str | None) -> tuple[str, ...]:
    """The tokens of an ``include`` list (``"kits, cover"`` -> ``("kits", "cover")``).

    Raises ``ValueError`` naming the problem: more than :data:`MAX_INCLUDE_TOKENS` tokens or a
    token not in :data:`INCLUDE_TOKENS`. Empty tokens are ignored.
    """
    raw = [token.strip() for token in (value or "").split(",")]
    tokens = tuple(token for token in raw if token)
    if len(tokens) > MAX_INCLUDE_TOKENS:
        raise ValueError(f"at most {MAX_INCLUDE_TOKENS} tokens are allowed, got {len(tokens)}")
    unknown = [token for token in tokens if token not in INCLUDE_TOKENS]
    if unknown:
        raise ValueError(
            f"unknown token(s) {', '.join(repr(t) for t in unknown)}; "
            f"known: {', '.join(INCLUDE_TOKENS)}"
        )
    return tokens


_TOKEN = f"(?:{'|'.join(INCLUDE_TOKENS)})"
#: What :func:`parse_include` accepts, as a regular expression (for the OpenAPI document): up to
#: :data:`MAX_INCLUDE_TOKENS` known tokens separated by commas; whitespace around tokens and
#: empty tokens are ignored.
INCLUDE_PATTERN = (
    rf"^[\s,]*(?:{_TOKEN}\s*,[\s,]*){{0,{MAX_INCLUDE_TOKENS - 1}}}"
    rf"(?:{_TOKEN}\s*(?:,[\s,]*)?)?$"
)

Tag = Annotated[SingleLine, Field(max_length=TAG_MAX_LENGTH)]
Tags = Annotated[list[Tag] | None, Field(max_length=MAX_TAGS), AfterValidator(normalize_tags)]
Description = Annotated[MultiLineRequired, Field(min_length=1, max_length=10_000)]
PartKey = Annotated[
    str, Field(pattern=KEY_PATTERN, description="4 uppercase letters (longer once those run out)")
]
PinCount = Annotated[int, Field(ge=1, le=MAX_ID)]


# --- paths and queries --------------------------------------------------------------------


class PartPath(BaseModel):
    key: PartKey


class TypePath(BaseModel):
    type_id: RowId


class UrlQuery(QueryModel):
    url: str = Field(min_length=1, max_length=2000, json_schema_extra=HTTP_URL_SCHEMA)


class TypeListQuery(QueryModel):
    include_stats: bool = Field(default=False, description="add each type's part_count")


class PartListQuery(QueryModel):
    limit: int = Field(default=50, ge=1, le=LIST_LIMIT_MAX)
    offset: int = Field(default=0, ge=0, le=MAX_ID)
    cursor: str | None = Field(
        default=None,
        max_length=CURSOR_MAX_LENGTH,
        description="continue after the page that returned this cursor (X-Next-Cursor header)",
    )
    count: Literal["exact"] | None = Field(
        default=None, description="`exact`: always send X-Total-Count (costs a COUNT)"
    )
    type_id: OptionalQueryId = None
    include: Annotated[str, TextPattern(INCLUDE_PATTERN)] | None = Field(
        default=None,
        max_length=INCLUDE_MAX_LENGTH,
        description=(
            f"comma-separated, at most {MAX_INCLUDE_TOKENS} of: {', '.join(INCLUDE_TOKENS)}"
        ),
    )

    @field_validator("include")
    @classmethod
    def _known_tokens(cls, value: str | None) -> str | None:
        parse_include(value)
        return value

    @field_validator("cursor")
    @classmethod
    def _decodable_cursor(cls, value: str | None) -> str | None:
        if value is not None:
            from plugins.parts.service import PageCursor

            PageCursor.decode(value)
        return value

    @model_validator(mode="after")
    def _cursor_or_offset(self) -> PartListQuery:
        if self.cursor is not None and self.offset:
            raise ValueError("send either cursor or offset, not both")
        return self

    @property
    def include_tokens(self) -> frozenset[str]:
        """The validated ``include`` tokens."""
        return frozenset(parse_include(self.include))


# --- bodies -------------------------------------------------------------------------------


class TypeIn(StrictTextBody):
    name: SingleLineRequired = Field(min_length=1, max_length=100)


class PartFieldsIn(StrictTextBody):
    """Every editable part field, optional (the base of both create and update)."""

    manufacturer_code: Text255 = None
    manufacturer: Text255 = None
    product_page: Text500 = None
    type_id: BodyId | None = None
    tags: Tags = None
    package: Text100 = None
    pin_count: PinCount | None = None
    pin_pitch: Text50 = None
    voltage_rating: Text100 = None
    input_voltage: Text100 = None
    output_voltage: Text100 = None
    mounting_type: Text50 = None
    series: Text100 = None
    dimensions: Text100 = None


class PartCreateIn(PartFieldsIn):
    """A new part: ``description`` is required; everything else is optional."""

    description: Description


class PartUpdateIn(PartFieldsIn):
    """``PUT /api/parts/{key}``: only the fields sent change; ``null`` clears a field (but
    ``description`` cannot be cleared)."""

    description: Description = may_be_absent()


class CopyAttachmentIn(StrictTextBody):
    attachment_id: BodyId
    target_part_key: PartKey
    set_as_cover: bool = False


class MembershipQueryIn(StrictTextBody):
    part_keys: list[PartKey] = Field(min_length=1, max_length=250)
    include_done: bool | None = False


class UrlPreviewIn(StrictTextBody):
    url: str = Field(min_length=1, max_length=2000, json_schema_extra=HTTP_URL_SCHEMA)


# --- responses (documentation) --------------------------------------------------------------


class TypeOut(BaseModel):
    id: int
    name: str
    part_count: int | None = Field(default=None, description="only with include_stats=true")
    created_at: str
    updated_at: str


class TypeList(RootModel[list[TypeOut]]):
    pass


class TypeRef(BaseModel):
    id: int
    name: str


class PartKitUsageOut(BaseModel):
    kit_id: int
    kit_name: str
    status: str
    build_target: int
    required_per_unit: int
    reserved_quantity: int
    updated_at: str | None


class PartKitUsageList(RootModel[list[PartKitUsageOut]]):
    pass


class LocationOut(BaseModel):
    box_no: int
    loc_no: int
    qty: int


class PartLocationOut(LocationOut):
    key: str


class PartLocationList(RootModel[list[PartLocationOut]]):
    pass


class SellerOut(BaseModel):
    id: int
    name: str
    website: str
    logo_url: str


class ShoppingListMembershipOut(BaseModel):
    shopping_list_id: int
    shopping_list_name: str
    shopping_list_status: str
    line_id: int
    line_status: str
    needed: int
    ordered: int
    received: int
    note: str | None = None
    seller: SellerOut | None = None


class ShoppingListMembershipList(RootModel[list[ShoppingListMembershipOut]]):
    pass


class PartMembershipsOut(BaseModel):
    part_key: str
    memberships: list[ShoppingListMembershipOut]


class MembershipQueryOut(BaseModel):
    memberships: list[PartMembershipsOut]


class SellerLinkOut(BaseModel):
    id: int
    seller_id: int
    seller_name: str
    seller_website: str
    link: str
    logo_url: str
    created_at: str


class PartKitReservationsOut(BaseModel):
    part_id: int
    part_key: str
    part_description: str | None
    total_reserved: int
    active_reservations: list[PartKitUsageOut]


class PartOut(BaseModel):
    id: int
    key: str
    description: str
    manufacturer_code: str | None
    manufacturer: str | None
    product_page: str | None
    type_id: int | None
    type: TypeRef | None
    tags: list[str]
    package: str | None
    pin_count: int | None
    pin_pitch: str | None
    voltage_rating: str | None
    input_voltage: str | None
    output_voltage: str | None
    mounting_type: str | None
    series: str | None
    dimensions: str | None
    attachment_set_id: int
    cover_url: str | None
    total_quantity: int = Field(description="quantity in stock (part_stock_levels hook)")
    seller_links: list[SellerLinkOut]
    created_at: str
    updated_at: str


class PartDetailOut(PartOut):
    used_in_kits: bool = Field(description="an active kit reserves this part")


class PartListItem(PartOut):
    locations: list[LocationOut] | None = Field(
        default=None, description="only with include=locations"
    )
    kits: list[PartKitUsageOut] | None = Field(default=None, description="only with include=kits")
    shopping_lists: list[ShoppingListMembershipOut] | None = Field(
        default=None, description="only with include=shopping_lists"
    )
    in_stock: int | None = Field(default=None, description="only with include=stock")


class PartList(RootModel[list[PartListItem]]):
    pass


class PartAttachmentOut(BaseModel):
    id: int
    attachment_set_id: int
    attachment_type: str
    title: str
    url: str | None
    filename: str | None
    content_type: str | None
    file_size: int | None
    created_at: str
    updated_at: str
    attachment_url: str | None
    preview_url: str | None


class CopyAttachmentOut(BaseModel):
    attachment: PartAttachmentOut


class UrlPreviewOut(BaseModel):
    title: str
    image_url: str | None
    original_url: str
    content_type: str
