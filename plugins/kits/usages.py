"""What kits tell the parts plugin through hooks: which kits use which parts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from core.plugin_api import one_of
from plugins.kits.models import ACTIVE, Kit, KitContent


def reserved_quantity(status: str, required_per_unit: int, build_target: int) -> int:
    """What a kit line reserves: ``required_per_unit x build_target`` when active, else 0."""
    return required_per_unit * build_target if status == ACTIVE else 0


def part_kit_usages(part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """``{part_id: [{kit_id, kit_name, status, build_target, required_per_unit,
    reserved_quantity, updated_at}]}`` for the given parts, by kit name (one query).

    ``updated_at`` is the kit's (a datetime). Parts no kit uses are absent.
    """
    ids = sorted({int(part_id) for part_id in part_ids})
    if not ids:
        return {}
    query = (
        KitContent.select(
            KitContent.part,
            Kit.id,
            Kit.name,
            Kit.status,
            Kit.build_target,
            KitContent.required_per_unit,
            Kit.updated_at,
        )
        .join(Kit, on=(KitContent.kit == Kit.id))
        .where(one_of(KitContent.part, ids))
        .order_by(Kit.name, Kit.id)
        .tuples()
    )
    result: dict[int, list[dict[str, Any]]] = {}
    rows = cast(Iterable[tuple[int, int, str, str, int, int, dt.datetime]], query)
    for part_id, kit_id, name, status, build_target, per_unit, updated_at in rows:
        result.setdefault(part_id, []).append(
            {
                "kit_id": kit_id,
                "kit_name": name,
                "status": status,
                "build_target": build_target,
                "required_per_unit": per_unit,
                "reserved_quantity": reserved_quantity(status, per_unit, build_target),
                "updated_at": updated_at,
            }
        )
    return result


def part_deletion_blockers(part_id: int) -> list[str]:
    """``["kit 'Name' (id 3)", ...]`` for every kit (active or archived) listing the part."""
    query = (
        Kit.select(Kit.id, Kit.name)
        .join(KitContent, on=(KitContent.kit == Kit.id))
        .where(KitContent.part == part_id)
        .order_by(Kit.name, Kit.id)
        .tuples()
    )
    rows = cast(Iterable[tuple[int, str]], query)
    return [f"kit {name!r} (id {kit_id})" for kit_id, name in rows]
