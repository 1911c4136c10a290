"""``GET /api/parts`` runs a constant number of SQL queries whatever the number of rows."""

from __future__ import annotations

from core.db import database
from plugins.kits import service as kit_service
from plugins.parts import service


def _add_parts(in_app, count: int, type_id: int, kit_id: int) -> None:
    with in_app(), database.atomic():
        for i in range(count):
            part = service.create_part({"description": f"part {i}", "type_id": type_id})
            if i % 3 == 0:
                kit_service.add_content(kit_id, part.id, 2)


def _queries_for_list(client, query_counter, expected_rows: int) -> int:
    query_counter.reset()
    response = client.get("/api/parts?limit=1000&include=cover,kits,stock")
    assert response.status_code == 200
    assert len(response.json) == expected_rows
    return query_counter.count


def test_part_list_query_count_does_not_grow_with_rows(
    client, in_app, new_part, new_kit, upload_png, query_counter, stock
) -> None:
    type_id = next(t["id"] for t in client.get("/api/types").json if t["name"] == "IC")
    kit = new_kit("Uses parts", build_target=2)
    pictured = [new_part(type_id=type_id) for _ in range(2)]
    for part in pictured:
        upload_png(part["attachment_set_id"])
    _add_parts(in_app, 8, type_id, kit["id"])

    small = _queries_for_list(client, query_counter, 10)
    stock.calls.clear()
    _add_parts(in_app, 490, type_id, kit["id"])
    large = _queries_for_list(client, query_counter, 500)

    assert small == large
    assert small <= 6, query_counter.statements
    assert len(stock.calls) == 1
    items = client.get("/api/parts?limit=1000&include=kits").json
    assert sum(1 for item in items if item["cover_url"]) == 2
    assert all(item["type"]["name"] == "IC" for item in items)
    assert sum(1 for item in items if item["kits"]) == 3 + 164  # every third part of each batch
