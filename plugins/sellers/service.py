"""Sellers, their logos and seller links: every change runs here, one transaction per operation.

A seller's logo is the cover of the seller's own attachment set: uploading one stores the image
through the core's upload service (streamed, sniffed, limited, validated, deduplicated) and makes
it the cover; removing it deletes that attachment and leaves the set without a cover.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, cast

import peewee
from peewee import fn

from core.plugin_api import (
    AttachableEntity,
    Conflict,
    NotFound,
    Upload,
    attach_upload,
    create_owner,
    database,
    delete_attachment,
    delete_owner,
    get_state,
    one_of,
    set_cover,
    tuples,
)
from plugins.sellers.models import Seller, SellerLink

#: The seller entity type the core manages sets for (``owner.type == "seller"``).
SELLER_ENTITY = AttachableEntity("seller", Seller, set_field="attachment_set", key_field="id")


def _name_taken(name: str, except_id: int | None = None) -> bool:
    query = Seller.select().where(fn.LOWER(Seller.name) == fn.LOWER(name))
    if except_id is not None:
        query = query.where(Seller.id != except_id)
    return bool(query.exists())


def _name_conflict(name: str) -> Conflict:
    return Conflict(
        f"a seller named {name!r} already exists", {"name": name}, code="SELLER_NAME_TAKEN"
    )


def get_seller(seller_id: int) -> Seller:
    """The seller. Raises :class:`NotFound`."""
    seller = Seller.get_or_none(Seller.id == seller_id)
    if seller is None:
        raise NotFound(f"seller {seller_id} does not exist", {"seller_id": seller_id})
    return seller


def list_sellers() -> list[Seller]:
    """Every seller by name, ignoring case."""
    return list(Seller.select().order_by(fn.LOWER(Seller.name), Seller.id))


def create_seller(name: str, website: str) -> Seller:
    """Create a seller with its own, empty attachment set. A taken name (ignoring case) is a 409
    ``SELLER_NAME_TAKEN``."""
    if _name_taken(name):
        raise _name_conflict(name)
    try:
        return cast(Seller, create_owner(SELLER_ENTITY, name=name, website=website))
    except peewee.IntegrityError:
        if _name_taken(name):
            raise _name_conflict(name) from None
        raise


def update_seller(seller_id: int, changes: dict[str, Any]) -> Seller:
    """Set ``name`` and/or ``website`` (absent or ``None``: keep)."""
    seller = get_seller(seller_id)
    changes = {field: value for field, value in changes.items() if value is not None}
    name = changes.get("name")
    if name is not None and _name_taken(name, except_id=seller_id):
        raise _name_conflict(name)
    for field, value in changes.items():
        setattr(seller, field, value)
    try:
        with database.atomic():
            seller.save()
    except peewee.IntegrityError:
        if name is not None and _name_taken(name, except_id=seller_id):
            raise _name_conflict(name) from None
        raise
    return seller


def deletion_blockers(seller: Seller) -> list[str]:
    """Why the seller cannot be deleted: its part links, and every plugin's reasons."""
    reasons = []
    links = SellerLink.select().where(SellerLink.seller == seller.id).count()
    if links:
        reasons.append(f"{links} part seller link(s)")
    for answer in get_state().plugin_manager.hook.seller_deletion_blockers(seller_id=seller.id):
        reasons.extend(str(reason) for reason in answer or [])
    return reasons


def delete_seller(seller_id: int) -> None:
    """Delete a seller with its attachment set. A seller still in use is a 409
    ``SELLER_IN_USE`` naming the users."""
    seller = get_seller(seller_id)

    def refuse_if_used() -> None:
        reasons = deletion_blockers(seller)
        if reasons:
            raise Conflict(
                f"seller {seller.name!r} is still used by: {', '.join(reasons)}",
                {"seller_id": seller_id, "blockers": reasons},
                code="SELLER_IN_USE",
            )

    try:
        delete_owner(SELLER_ENTITY, seller, before=refuse_if_used)
    except peewee.IntegrityError:  # a link arrived meanwhile
        refuse_if_used()
        raise


def set_logo(seller: Seller, upload: Upload) -> None:
    """Make the uploaded image the seller's logo (the cover of its set), replacing the old one."""
    from plugins.sellers.views import logo_attachment_id

    previous = logo_attachment_id(seller)
    attachment = attach_upload(seller.attachment_set_id, upload, "logo", set_as_cover=True)
    if previous is not None and previous != attachment.id:
        delete_attachment(seller.attachment_set_id, previous)
        set_cover(seller.attachment_set_id, attachment.id)


def delete_logo(seller: Seller) -> None:
    """Remove the seller's logo: its attachment is deleted and the set keeps no cover."""
    from plugins.sellers.views import logo_attachment_id

    previous = logo_attachment_id(seller)
    if previous is not None:
        delete_attachment(seller.attachment_set_id, previous)
    set_cover(seller.attachment_set_id, None)


# --- seller links -----------------------------------------------------------------------------


def add_link(part_id: int, part_key: str, seller_id: int, link: str) -> SellerLink:
    """Link a part to its product page at a seller. 404: unknown seller; 409
    ``SELLER_LINK_EXISTS`` when the part already has a link to that seller."""
    get_seller(seller_id)
    existing = SellerLink.select().where(
        (SellerLink.part == part_id) & (SellerLink.seller == seller_id)
    )
    if existing.exists():
        raise _link_exists(part_key, seller_id)
    try:
        with database.atomic():
            return SellerLink.create(part=part_id, seller=seller_id, link=link)
    except peewee.IntegrityError:
        if existing.exists():
            raise _link_exists(part_key, seller_id) from None
        get_seller(seller_id)
        raise


def _link_exists(part_key: str, seller_id: int) -> Conflict:
    return Conflict(
        f"part {part_key} already has a link to seller {seller_id}; delete it first",
        {"key": part_key, "seller_id": seller_id},
        code="SELLER_LINK_EXISTS",
    )


def delete_link(part_id: int, part_key: str, link_id: int) -> None:
    """Delete seller link ``link_id`` of the part; 404 when the part has no such link."""
    deleted = (
        SellerLink.delete()
        .where((SellerLink.id == link_id) & (SellerLink.part == part_id))
        .execute()
    )
    if not deleted:
        raise NotFound(
            f"part {part_key} has no seller link {link_id}",
            {"key": part_key, "seller_link_id": link_id},
        )


def links_of_parts(part_ids: Iterable[int]) -> dict[int, list[tuple[SellerLink, Seller]]]:
    """``{part_id: [(link, seller), ...]}`` by seller name, for any number of parts (one
    query); parts without links are absent."""
    ids = sorted({int(part_id) for part_id in part_ids})
    if not ids:
        return {}
    query = (
        SellerLink.select(SellerLink, Seller)
        .join(Seller, on=(SellerLink.seller == Seller.id))
        .where(one_of(SellerLink.part, ids))
        .order_by(fn.LOWER(Seller.name), SellerLink.id)
    )
    result: dict[int, list[tuple[SellerLink, Seller]]] = defaultdict(list)
    for row in query:
        result[row.part_id].append((row, row.seller))
    return result


def link_counts() -> dict[int, int]:
    """``{seller_id: number of part links}`` (one query)."""
    query = SellerLink.select(SellerLink.seller, fn.COUNT(SellerLink.id)).group_by(
        SellerLink.seller
    )
    return {seller_id: count for seller_id, count in tuples(query)}
