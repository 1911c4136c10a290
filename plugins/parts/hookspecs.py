"""The hooks through which other plugins tell the parts plugin about parts.

The parts plugin adds these specs in ``register_hookspecs``; kits, inventory and other plugins
implement them with :data:`core.plugin_api.hookimpl`. Each hook answers for a whole page of parts
at once, so part lists cost a constant number of queries whatever their length. The parts plugin
calls them through :mod:`plugins.parts.hook_calls`, which merges the answers of every plugin.
"""

from __future__ import annotations

from typing import Any

from core.plugin_api import hookspec


@hookspec
def part_kit_usages(part_ids: list[int]) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given part id, the kits that use it (``include=kits`` on part lists).

    Each usage is a dict ``{kit_id, kit_name, status, build_target, required_per_unit,
    reserved_quantity, updated_at}``. Parts with no usage may be absent. Return ``None`` when the
    plugin knows nothing about kits.
    """


@hookspec
def part_deletion_blockers(part_id: int) -> list[str] | None:
    """Return human-readable reasons why part ``part_id`` cannot be deleted (e.g. kit names).

    A non-empty answer from any plugin makes ``DELETE /api/parts/{key}`` answer 409
    ``PART_IN_USE``. Called inside the deleting transaction, so a plugin's check and the
    deletion see the same data.
    """


@hookspec
def part_stock_levels(part_ids: list[int]) -> dict[int, int] | None:
    """Return the quantity in stock of each given part id; absent ids count as 0.

    Answers of several plugins add up. Return ``None`` when the plugin keeps no stock.
    """


@hookspec
def part_locations(part_ids: list[int]) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given part id, where its stock is: ``[{key, box_no, loc_no, qty}, ...]``
    by box and location (``include=locations``, ``GET /api/parts/{key}/locations``).

    Parts without stock may be absent. Return ``None`` when the plugin keeps no stock.
    """


@hookspec
def part_shopping_lists(
    part_ids: list[int], include_done: bool
) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given part id, its shopping-list lines (``include=shopping_lists`` on
    part lists, ``GET /api/parts/{key}/shopping-list-memberships`` and the bulk query): only
    lines of active lists that are not done, unless ``include_done``.

    Each membership is a dict ``{shopping_list_id, shopping_list_name, shopping_list_status,
    line_id, line_status, needed, ordered, received, note, seller}`` (``seller`` ``None`` or
    ``{id, name, website, logo_url}``). Parts on no list may be absent. Return ``None`` when the
    plugin keeps no shopping lists.
    """


@hookspec
def part_seller_links(part_ids: list[int]) -> dict[int, list[dict[str, Any]]] | None:
    """Return, for each given part id, its product pages at sellers: ``[{id, seller_id,
    seller_name, seller_website, link, logo_url, created_at}, ...]`` (``seller_links`` of
    parts). Parts without links may be absent; ``None`` when the plugin knows no sellers.
    """
