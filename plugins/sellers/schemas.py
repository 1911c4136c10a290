"""Request and response schemas of the sellers API (the established UI's contract)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, RootModel

from core.plugin_api import HTTP_URL_SCHEMA, BodyId, RowId, SingleLineRequired, StrictTextBody
from plugins.parts.schemas import PartPath

__all__ = ["PartPath"]


def http_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host (links are rendered as ``href``:
    ``javascript:`` and other schemes are refused)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if any(ord(char) < 0x21 or char == "\x7f" for char in value):
        raise ValueError("must not contain spaces or control characters")
    return value


SellerName = Annotated[SingleLineRequired, Field(min_length=1, max_length=255)]
WebUrl = Annotated[
    str,
    Field(min_length=1, max_length=500, json_schema_extra=HTTP_URL_SCHEMA),
    AfterValidator(http_url),
]


class SellerPath(BaseModel):
    seller_id: RowId


class SellerLinkPath(PartPath):
    seller_link_id: RowId


class SellerIn(StrictTextBody):
    name: SellerName
    website: WebUrl


class SellerUpdateIn(StrictTextBody):
    """Only the fields sent change; ``null`` keeps the current value (the contract's shape)."""

    name: SellerName | None = None
    website: WebUrl | None = None


class SellerLinkIn(StrictTextBody):
    seller_id: BodyId
    link: WebUrl


class SellerOut(BaseModel):
    id: int
    name: str
    website: str
    logo_url: str
    attachment_set_id: int
    created_at: str
    updated_at: str


class SellerList(RootModel[list[SellerOut]]):
    pass


class SellerLinkOut(BaseModel):
    id: int
    seller_id: int
    seller_name: str
    seller_website: str
    link: str
    logo_url: str
    created_at: str
