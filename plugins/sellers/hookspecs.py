"""The hooks through which other plugins tell the sellers plugin about sellers."""

from __future__ import annotations

from core.plugin_api import hookspec


@hookspec
def seller_deletion_blockers(seller_id: int) -> list[str] | None:
    """Return reasons why seller ``seller_id`` cannot be deleted (e.g. shopping-list lines that
    buy from it). A non-empty answer makes ``DELETE /api/sellers/{id}`` answer 409
    ``SELLER_IN_USE``. Called inside the deleting transaction."""
