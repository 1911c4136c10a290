"""JSON shapes of sellers and seller links; logos in one query for any number of sellers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from core.plugin_api import AttachmentSet, cover_urls
from plugins.sellers.models import Seller, SellerLink


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def initial_logo_url(seller: Seller) -> str:
    """The generated letter badge served when the seller has no logo of its own."""
    return f"/api/sellers/{seller.id}/initial-logo.svg"


def logo_urls(sellers: Iterable[Seller]) -> dict[int, str]:
    """``{seller_id: logo_url}``: the cover of the seller's set, else the letter badge."""
    sellers = list(sellers)
    covers = cover_urls(seller.attachment_set_id for seller in sellers)
    return {
        seller.id: covers.get(seller.attachment_set_id) or initial_logo_url(seller)
        for seller in sellers
    }


def logo_attachment_id(seller: Seller) -> int | None:
    """The id of the attachment that is the seller's logo (its set's cover), or ``None``."""
    row = AttachmentSet.get_or_none(AttachmentSet.id == seller.attachment_set_id)
    return row.cover_attachment_id if row is not None else None


def seller_json(seller: Seller, logo_url: str) -> dict[str, Any]:
    """``{id, name, website, logo_url, attachment_set_id, created_at, updated_at}``."""
    return {
        "id": seller.id,
        "name": seller.name,
        "website": seller.website,
        "logo_url": logo_url,
        "attachment_set_id": seller.attachment_set_id,
        "created_at": iso(seller.created_at),
        "updated_at": iso(seller.updated_at),
    }


def one_seller(seller: Seller) -> dict[str, Any]:
    return seller_json(seller, logo_urls([seller])[seller.id])


def link_json(link: SellerLink, seller: Seller, logo_url: str) -> dict[str, Any]:
    """``{id, seller_id, seller_name, seller_website, link, logo_url, created_at}``."""
    return {
        "id": link.id,
        "seller_id": seller.id,
        "seller_name": seller.name,
        "seller_website": seller.website,
        "link": link.link,
        "logo_url": logo_url,
        "created_at": iso(link.created_at),
    }


def initial_logo_svg(seller: Seller) -> str:
    """A 64x64 SVG badge with the first letter of the seller's name (escaped; no script)."""
    from html import escape

    letter = escape((seller.name.strip()[:1] or "?").upper())
    hue = (seller.id * 47) % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" rx="12" fill="hsl({hue},45%,45%)"/>'
        '<text x="32" y="43" font-family="sans-serif" font-size="32" font-weight="bold" '
        f'fill="#fff" text-anchor="middle">{letter}</text></svg>'
    )
