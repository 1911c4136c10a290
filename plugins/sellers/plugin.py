"""The sellers plugin's hook implementations (entry point ``sellers``).

It defines ``seller_deletion_blockers`` for plugins that refer to sellers (shopping lists) and
answers the parts plugin's ``part_seller_links`` (``seller_links`` of parts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
from flask_openapi3 import APIBlueprint

from core.plugin_api import AttachableEntity, MigrationSource, hookimpl

#: Seller links belong to parts: the parts plugin must be loaded.
REQUIRES_PLUGINS = ("parts",)

MIGRATIONS = MigrationSource(
    "sellers",
    Path(__file__).resolve().parent / "migrations",
    "migratehistory_sellers",
    depends_on=("parts",),
)


@hookimpl
def register_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    from plugins.sellers import hookspecs

    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def register_migrations() -> list[MigrationSource]:
    return [MIGRATIONS]


@hookimpl
def register_attachable_entities() -> list[AttachableEntity]:
    from plugins.sellers.service import SELLER_ENTITY

    return [SELLER_ENTITY]


@hookimpl
def register_blueprints() -> list[APIBlueprint]:
    from plugins.sellers import api

    return [api.blueprint]


@hookimpl
def part_seller_links(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    from plugins.sellers import service, views

    links = service.links_of_parts(part_ids)
    logos = views.logo_urls(
        {seller.id: seller for pairs in links.values() for _, seller in pairs}.values()
    )
    return {
        part_id: [views.link_json(link, seller, logos[seller.id]) for link, seller in pairs]
        for part_id, pairs in links.items()
    }
