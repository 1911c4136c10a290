"""The inventory plugin: boxes, locations, stock, moves and history (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.plugin_api import get_state
from plugins.parts import hook_calls


@pytest.fixture
def new_box(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    def _new(capacity: int = 10, description: str = "Resistors") -> dict[str, Any]:
        response = client.post(
            "/api/boxes", json={"description": description, "capacity": capacity}
        )
        assert response.status_code == 201, response.json
        return response.json

    return _new


def add(client: FlaskClient, key: str, box_no: int, loc_no: int, qty: int):
    return client.post(
        f"/api/inventory/parts/{key}/stock", json={"box_no": box_no, "loc_no": loc_no, "qty": qty}
    )


def remove(client: FlaskClient, key: str, box_no: int, loc_no: int, qty: int):
    return client.delete(
        f"/api/inventory/parts/{key}/stock", json={"box_no": box_no, "loc_no": loc_no, "qty": qty}
    )


def move(client: FlaskClient, key: str, source: tuple[int, int], target: tuple[int, int], qty: int):
    return client.post(
        f"/api/inventory/parts/{key}/move",
        json={
            "from_box_no": source[0],
            "from_loc_no": source[1],
            "to_box_no": target[0],
            "to_loc_no": target[1],
            "qty": qty,
        },
    )


def locations_of(app: Flask, part_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        answers = get_state().plugin_manager.hook.part_locations(part_ids=[part_id])
    return [loc for answer in answers for loc in (answer or {}).get(part_id, [])]


def total_of(app: Flask, part_id: int) -> int:
    with app.app_context():
        return hook_calls.stock_levels([part_id])[part_id]


# --- boxes ---------------------------------------------------------------------------------


def test_boxes_are_numbered_in_order_with_their_locations(new_box) -> None:
    first, second = new_box(3), new_box(2)
    assert (first["box_no"], second["box_no"]) == (1, 2)
    assert first["locations"] == [{"box_no": 1, "loc_no": n} for n in (1, 2, 3)]
    assert {"description", "capacity", "created_at", "updated_at", "attachment_set_id"} <= set(
        first
    )


def test_box_list_shows_usage(client, new_box, new_part) -> None:
    box = new_box(4)
    part = new_part()
    add(client, part["key"], box["box_no"], 2, 5)
    [listed] = client.get("/api/boxes").json
    assert listed["total_locations"] == 4 and listed["occupied_locations"] == 1
    assert listed["available_locations"] == 3 and listed["usage_percentage"] == 25.0
    usage = client.get(f"/api/boxes/{box['box_no']}/usage").json
    assert usage == {
        "box_no": 1,
        "total_locations": 4,
        "occupied_locations": 1,
        "available_locations": 3,
        "usage_percentage": 25.0,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"description": "x", "capacity": 0},
        {"description": "x", "capacity": 1001},
        {"description": "", "capacity": 3},
        {"capacity": 3},
    ],
)
def test_bad_box_bodies_are_400(client, body) -> None:
    response = client.post("/api/boxes", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "VALIDATION_ERROR"


def test_growing_a_box_adds_locations(client, new_box) -> None:
    box = new_box(2)
    response = client.put(
        f"/api/boxes/{box['box_no']}", json={"description": "More", "capacity": 4}
    )
    assert response.status_code == 200, response.json
    assert [loc["loc_no"] for loc in response.json["locations"]] == [1, 2, 3, 4]
    assert response.json["description"] == "More"


def test_shrinking_below_an_occupied_location_is_409_naming_it(client, new_box, new_part) -> None:
    box = new_box(5)
    add(client, new_part()["key"], box["box_no"], 4, 1)
    response = client.put(f"/api/boxes/{box['box_no']}", json={"description": "x", "capacity": 3})
    assert response.status_code == 409
    assert response.json["code"] == "LOCATION_OCCUPIED"
    assert response.json["details"]["occupied_locations"] == ["1-4"]
    assert "1-4" in response.json["error"]
    assert len(client.get(f"/api/boxes/{box['box_no']}").json["locations"]) == 5


def test_shrinking_past_empty_locations_removes_them(client, new_box, new_part) -> None:
    box = new_box(5)
    add(client, new_part()["key"], box["box_no"], 2, 1)
    response = client.put(f"/api/boxes/{box['box_no']}", json={"description": "x", "capacity": 2})
    assert response.status_code == 200
    assert client.get("/api/locations/1/3").status_code == 404


def test_deleting_a_box_with_stock_is_409_and_an_empty_one_goes_with_its_set(
    client, new_box, new_part
) -> None:
    box = new_box(2)
    part = new_part()
    add(client, part["key"], box["box_no"], 1, 3)
    refused = client.delete(f"/api/boxes/{box['box_no']}")
    assert refused.status_code == 409 and refused.json["code"] == "BOX_NOT_EMPTY"
    remove(client, part["key"], box["box_no"], 1, 3)
    assert client.delete(f"/api/boxes/{box['box_no']}").status_code == 204
    assert client.get(f"/api/boxes/{box['box_no']}").status_code == 404
    assert client.get(f"/api/attachment-sets/{box['attachment_set_id']}").status_code == 404


def test_a_box_owns_its_attachment_set(client, new_box) -> None:
    box = new_box(1)
    owner = client.get(f"/api/attachment-sets/{box['attachment_set_id']}").json["owner"]
    assert owner["type"] == "box" and owner["key"] == box["box_no"]


def test_locations_with_parts_say_what_each_holds(client, new_box, new_part) -> None:
    box = new_box(3)
    part = new_part(description="10k resistor", manufacturer_code="RC0603")
    add(client, part["key"], box["box_no"], 2, 7)
    plain = client.get(f"/api/boxes/{box['box_no']}/locations").json
    assert plain == [{"box_no": 1, "loc_no": n} for n in (1, 2, 3)]
    rich = client.get(f"/api/boxes/{box['box_no']}/locations?include_parts=true").json
    assert [loc["is_occupied"] for loc in rich] == [False, True, False]
    assert rich[1]["part_assignments"] == [
        {
            "key": part["key"],
            "qty": 7,
            "manufacturer_code": "RC0603",
            "description": "10k resistor",
            "cover_url": None,
        }
    ]


def test_unknown_box_and_location_are_404_naming_them(client, new_box) -> None:
    new_box(2)
    assert "box 9" in client.get("/api/locations/9/1").json["error"]
    assert "location 5" in client.get("/api/locations/1/5").json["error"]
    assert client.get("/api/locations/1/2").json == {"box_no": 1, "loc_no": 2}


# --- stock ---------------------------------------------------------------------------------


def test_adding_stock_answers_what_the_location_holds(app, client, new_box, new_part) -> None:
    new_box(3)
    part = new_part()
    first = add(client, part["key"], 1, 1, 5)
    assert first.status_code == 201
    assert first.json == {"key": part["key"], "box_no": 1, "loc_no": 1, "qty": 5}
    assert add(client, part["key"], 1, 1, 2).json["qty"] == 7
    add(client, part["key"], 1, 3, 1)
    assert total_of(app, part["id"] if "id" in part else _part_id(app, part["key"])) == 8


def _part_id(app: Flask, key: str) -> int:
    from plugins.parts.service import get_part

    with app.app_context():
        return get_part(key).id


def test_adding_to_a_missing_location_is_404_and_changes_nothing(
    app, client, new_box, new_part
) -> None:
    new_box(2)
    part = new_part()
    assert add(client, part["key"], 1, 3, 5).status_code == 404
    assert add(client, part["key"], 4, 1, 5).status_code == 404
    assert add(client, "ZZZZ", 1, 1, 5).status_code == 404
    assert total_of(app, _part_id(app, part["key"])) == 0
    assert client.get(f"/api/parts/{part['key']}/history").json == []


@pytest.mark.parametrize("qty", [0, -1, "3", 10**9])
def test_bad_quantities_are_400(client, new_box, new_part, qty) -> None:
    new_box(1)
    assert add(client, new_part()["key"], 1, 1, qty).status_code == 400


def test_removing_the_last_units_clears_the_location(app, client, new_box, new_part) -> None:
    new_box(2)
    part = new_part()
    add(client, part["key"], 1, 1, 4)
    assert remove(client, part["key"], 1, 1, 3).status_code == 204
    assert locations_of(app, _part_id(app, part["key"])) == [
        {"key": part["key"], "box_no": 1, "loc_no": 1, "qty": 1}
    ]
    assert remove(client, part["key"], 1, 1, 1).status_code == 204
    assert locations_of(app, _part_id(app, part["key"])) == []


def test_removing_more_than_is_there_is_409_and_changes_nothing(
    app, client, new_box, new_part
) -> None:
    new_box(1)
    part = new_part()
    add(client, part["key"], 1, 1, 2)
    response = remove(client, part["key"], 1, 1, 3)
    assert response.status_code == 409
    assert response.json["code"] == "INSUFFICIENT_STOCK"
    assert response.json["details"] == {
        "key": part["key"],
        "location": "1-1",
        "available": 2,
        "requested": 3,
    }
    assert total_of(app, _part_id(app, part["key"])) == 2


def test_removing_from_an_empty_location_is_404(client, new_box, new_part) -> None:
    new_box(1)
    response = remove(client, new_part()["key"], 1, 1, 1)
    assert response.status_code == 404 and response.json["code"] == "NO_STOCK_AT_LOCATION"


def test_moving_stock_keeps_the_total(app, client, new_box, new_part) -> None:
    new_box(3)
    part = new_part()
    add(client, part["key"], 1, 1, 10)
    assert move(client, part["key"], (1, 1), (1, 3), 4).status_code == 204
    assert locations_of(app, _part_id(app, part["key"])) == [
        {"key": part["key"], "box_no": 1, "loc_no": 1, "qty": 6},
        {"key": part["key"], "box_no": 1, "loc_no": 3, "qty": 4},
    ]
    assert move(client, part["key"], (1, 1), (1, 3), 6).status_code == 204
    assert [loc["loc_no"] for loc in locations_of(app, _part_id(app, part["key"]))] == [3]


def test_a_failed_move_changes_nothing(app, client, new_box, new_part) -> None:
    new_box(2)
    part = new_part()
    add(client, part["key"], 1, 1, 3)
    assert move(client, part["key"], (1, 1), (1, 2), 5).status_code == 409
    assert move(client, part["key"], (1, 1), (7, 1), 1).status_code == 404
    assert move(client, part["key"], (1, 1), (1, 1), 1).status_code == 400
    assert locations_of(app, _part_id(app, part["key"])) == [
        {"key": part["key"], "box_no": 1, "loc_no": 1, "qty": 3}
    ]


def test_history_records_every_change_newest_first(client, new_box, new_part) -> None:
    new_box(2)
    part = new_part()
    add(client, part["key"], 1, 1, 5)
    remove(client, part["key"], 1, 1, 2)
    move(client, part["key"], (1, 1), (1, 2), 3)
    rows = client.get(f"/api/parts/{part['key']}/history").json
    assert [(r["delta_qty"], r["location_reference"]) for r in rows] == [
        (3, "1-2"),
        (-3, "1-1"),
        (-2, "1-1"),
        (5, "1-1"),
    ]
    assert set(rows[0]) == {"id", "delta_qty", "location_reference", "timestamp"}


def test_a_part_with_stock_cannot_be_deleted(client, new_box, new_part) -> None:
    new_box(1)
    part = new_part()
    add(client, part["key"], 1, 1, 2)
    response = client.delete(f"/api/parts/{part['key']}")
    assert response.status_code == 409 and response.json["code"] == "PART_IN_USE"
    assert "1-1" in response.json["error"]
    remove(client, part["key"], 1, 1, 2)
    assert client.delete(f"/api/parts/{part['key']}").status_code == 204


def test_kit_availability_comes_from_stock(client, new_box, new_part, new_kit) -> None:
    new_box(1)
    part = new_part()
    add(client, part["key"], 1, 1, 3)
    kit = new_kit(build_target=2)
    pid = client.get(f"/api/parts/{part['key']}").json.get("id") or _part_id(
        client.application, part["key"]
    )
    line = client.post(
        f"/api/kits/{kit['id']}/contents", json={"part_id": pid, "required_per_unit": 2}
    ).json
    assert (line["in_stock"], line["available"], line["shortfall"]) == (3, 3, 1)


def test_stock_queries_cost_one_statement_for_any_number_of_parts(
    app, client, new_box, new_part, query_counter
) -> None:
    new_box(5)
    parts = [new_part() for _ in range(5)]
    for n, part in enumerate(parts, start=1):
        add(client, part["key"], 1, n, n)
    ids = [_part_id(app, part["key"]) for part in parts]
    with app.app_context():
        query_counter.reset()
        totals = hook_calls.stock_levels(ids)
        hook_calls_count = query_counter.count
        query_counter.reset()
        get_state().plugin_manager.hook.part_locations(part_ids=ids)
        assert query_counter.count == 1
    assert hook_calls_count == 1
    assert totals == {pid: n for n, pid in enumerate(ids, start=1)}


# --- suggestions ---------------------------------------------------------------------------


def test_suggestions_prefer_a_box_holding_the_same_type(client, new_box, new_part) -> None:
    new_box(2)
    new_box(3)
    type_id = client.post("/api/types", json={"name": "Trimmer"}).json["id"]
    other = new_part()
    same = new_part(type_id=type_id)
    add(client, other["key"], 1, 1, 1)
    add(client, same["key"], 2, 1, 1)
    assert client.get(f"/api/inventory/suggestions/{type_id}").json == {"box_no": 2, "loc_no": 2}
    fresh_type = client.post("/api/types", json={"name": "Varistor"}).json["id"]
    assert client.get(f"/api/inventory/suggestions/{fresh_type}").json == {"box_no": 1, "loc_no": 2}


def test_suggestions_for_an_unknown_type_or_a_full_store_are_404(client, new_box, new_part) -> None:
    assert client.get("/api/inventory/suggestions/999999").status_code == 404
    new_box(1)
    type_id = client.post("/api/types", json={"name": "Fuse holder"}).json["id"]
    add(client, new_part()["key"], 1, 1, 1)
    response = client.get(f"/api/inventory/suggestions/{type_id}")
    assert response.status_code == 404 and response.json["code"] == "NO_FREE_LOCATION"


# --- concurrency ---------------------------------------------------------------------------


def test_opposite_moves_interleaved_take_turns_instead_of_deadlocking(
    app, client, new_box, new_part, monkeypatch
) -> None:
    """Move A has taken from 1-1 and is about to put into 1-2 when move B (1-2 -> 1-1) starts:
    without the part's stock lock B would take from 1-2 and wait for 1-1 (held by A) while A
    waits for 1-2 (held by B), a deadlock the database breaks by failing one of them."""
    from plugins.inventory import service

    new_box(4)
    key = new_part()["key"]
    assert add(client, key, 1, 1, 10).status_code == 201
    assert add(client, key, 1, 2, 10).status_code == 201
    a_took, b_putting = threading.Event(), threading.Event()
    real_put = service._put

    def put(part: Any, location: Any, qty: int) -> None:
        if threading.current_thread().name == "move-a":
            a_took.set()
            b_putting.wait(timeout=1.5)  # B gets there first only if nothing stops it
        else:
            b_putting.set()
        real_put(part, location, qty)

    monkeypatch.setattr(service, "_put", put)
    statuses: dict[str, int] = {}

    def run(name: str, source: tuple[int, int], target: tuple[int, int]) -> None:
        statuses[name] = move(app.test_client(), key, source, target, 2).status_code

    a = threading.Thread(target=run, args=("a", (1, 1), (1, 2)), name="move-a")
    b = threading.Thread(target=run, args=("b", (1, 2), (1, 1)), name="move-b")
    a.start()
    assert a_took.wait(timeout=10)
    b.start()
    a.join(timeout=30)
    b.join(timeout=30)
    assert statuses == {"a": 204, "b": 204}
    pid = _part_id(app, key)
    assert sorted(loc["qty"] for loc in locations_of(app, pid)) == [10, 10]


def test_concurrent_moves_removes_and_adds_never_lose_or_double_a_unit(
    app, client, new_box, new_part
) -> None:
    new_box(4)
    part = new_part()
    key = part["key"]
    add(client, key, 1, 1, 100)
    routes = [((1, 1), (1, 2)), ((1, 2), (1, 3)), ((1, 3), (1, 1)), ((1, 1), (1, 4))]

    def work(n: int) -> list[tuple[str, int]]:
        local = app.test_client()
        outcomes = []
        for step in range(12):
            source, target = routes[(n + step) % len(routes)]
            if step % 4 == 3:
                response = remove(local, key, *source, 1)
                outcomes.append(("remove", response.status_code))
            elif step % 4 == 1:
                response = add(local, key, *target, 1)
                outcomes.append(("add", response.status_code))
            else:
                response = move(local, key, source, target, 2)
                outcomes.append(("move", response.status_code))
        return outcomes

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = [o for result in pool.map(work, range(8)) for o in result]
    assert {status for _kind, status in outcomes} <= {201, 204, 404, 409}, outcomes
    added = sum(1 for kind, status in outcomes if kind == "add" and status == 201)
    removed = sum(1 for kind, status in outcomes if kind == "remove" and status == 204)
    pid = _part_id(app, key)
    assert total_of(app, pid) == 100 + added - removed
    assert all(loc["qty"] > 0 for loc in locations_of(app, pid))
    history = client.get(f"/api/parts/{key}/history").json
    assert sum(row["delta_qty"] for row in history) == total_of(app, pid)
