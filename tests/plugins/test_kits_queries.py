"""Kit lists and kit details run a constant number of SQL queries whatever the number of rows."""

from __future__ import annotations

from typing import Any

from core.db import database
from plugins.kits import service as kit_service
from plugins.parts import service as part_service


def _count(client, query_counter, url: str) -> tuple[int, Any]:
    query_counter.reset()
    response = client.get(url)
    assert response.status_code == 200, response.json
    return query_counter.count, response.json


def test_kit_list_query_count_does_not_grow_with_rows(
    client, in_app, new_kit, upload_png, query_counter
) -> None:
    for i in range(10):
        kit = new_kit(f"kit {i}")
        if i < 2:
            upload_png(kit["attachment_set_id"])
    small, body = _count(client, query_counter, "/api/kits?limit=1000")
    assert len(body) == 10
    with in_app(), database.atomic():
        for i in range(10, 500):
            kit_service.create_kit(f"kit {i}")
    large, body = _count(client, query_counter, "/api/kits?limit=1000")
    assert len(body) == 500
    assert small == large
    assert small <= 4, query_counter.statements  # kits, covers, shopping links, pick lists
    assert sum(1 for kit in body if kit["cover_url"]) == 2


def test_kit_detail_query_count_does_not_grow_with_contents(
    client, in_app, new_kit, new_part, upload_png, query_counter, stock
) -> None:
    kit = new_kit("Big", build_target=2)
    other = new_kit("Other", build_target=1)
    upload_png(kit["attachment_set_id"])

    def add_lines(first: int, last: int) -> None:
        with in_app(), database.atomic():
            for i in range(first, last):
                part = part_service.create_part({"description": f"part {i}"})
                kit_service.add_content(kit["id"], part.id, 1 + i % 3)
                if i % 2:
                    kit_service.add_content(other["id"], part.id, 1)
                stock.levels[part.id] = i

    part = new_part()
    upload_png(part["attachment_set_id"])
    with in_app():
        kit_service.add_content(kit["id"], part_service.get_part(part["key"]).id, 1)
    add_lines(1, 10)
    small, body = _count(client, query_counter, f"/api/kits/{kit['id']}")
    assert len(body["contents"]) == 10
    stock.calls.clear()
    add_lines(10, 500)
    large, body = _count(client, query_counter, f"/api/kits/{kit['id']}")
    assert len(body["contents"]) == 500
    assert small == large
    assert small <= 8, query_counter.statements  # + stock, shopping links, pick lists
    assert len(stock.calls) == 1
    assert body["cover_url"] is not None
    assert body["contents"][0]["part"]["cover_url"] is not None
    line = body["contents"][499]  # part 499: 1 + 499 % 3 = 2 per unit, also 1 in Other
    assert (line["total_required"], line["in_stock"], line["reserved"]) == (4, 499, 1)
