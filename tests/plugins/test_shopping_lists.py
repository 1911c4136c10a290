"""The shopping lists plugin: lists and their workflow, lines, seller groups, receiving into stock
through the inventory, kit pushes and links, memberships (both databases)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.plugin_api import get_state
from plugins.parts.service import get_part
from plugins.shopping_lists.service import kit_links_of_kits


def _part_id(app: Flask, key: str) -> int:
    with app.app_context():
        return get_part(key).id


def stock_of(client: FlaskClient, key: str) -> dict[tuple[int, int], int]:
    """``{(box_no, loc_no): qty}`` of the part in box 1, from the inventory API."""
    locations = client.get("/api/boxes/1/locations?include_parts=true").json
    return {
        (1, location["loc_no"]): assignment["qty"]
        for location in locations
        for assignment in location["part_assignments"]
        if assignment["key"] == key
    }


def add_stock(client: FlaskClient, key: str, loc_no: int, qty: int) -> None:
    response = client.post(
        f"/api/inventory/parts/{key}/stock", json={"box_no": 1, "loc_no": loc_no, "qty": qty}
    )
    assert response.status_code == 201, response.json


@pytest.fixture
def box(client: FlaskClient) -> int:
    """Box 1 with 4 locations."""
    response = client.post("/api/boxes", json={"description": "Bench", "capacity": 4})
    assert response.status_code == 201, response.json
    return 1


@pytest.fixture
def new_list(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    def _new(name: str = "Q1 order", **fields: Any) -> dict[str, Any]:
        response = client.post("/api/shopping-lists", json={"name": name, **fields})
        assert response.status_code == 201, response.json
        return response.json

    return _new


@pytest.fixture
def new_seller(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    def _new(name: str = "DigiKey") -> dict[str, Any]:
        response = client.post(
            "/api/sellers", json={"name": name, "website": f"https://{name.lower()}.example"}
        )
        assert response.status_code == 201, response.json
        return response.json

    return _new


@pytest.fixture
def new_line(app, client, new_part) -> Callable[..., dict[str, Any]]:
    """``new_line(list_id, needed=..., seller_id=...)`` adds a line for a new part."""

    def _new(list_id: int, needed: int = 10, **fields: Any) -> dict[str, Any]:
        part = new_part(description=fields.pop("description", "a part"))
        body = {"part_id": _part_id(app, part["key"]), "needed": needed, **fields}
        response = client.post(f"/api/shopping-lists/{list_id}/lines", json=body)
        assert response.status_code == 201, response.json
        return response.json

    return _new


@pytest.fixture
def ordered_line(client, box, new_list, new_seller, new_line) -> dict[str, Any]:
    """An ordered line: 10 needed, 10 ordered, from DigiKey, on an active list; box 1 exists."""
    shopping_list = new_list()
    seller = new_seller()
    line = new_line(shopping_list["id"], needed=10, seller_id=seller["id"])
    assert (
        client.put(f"/api/shopping-list-lines/{line['id']}", json={"ordered": 10}).status_code
        == 200
    )
    group = f"/api/shopping-lists/{shopping_list['id']}/seller-groups/{seller['id']}"
    ordered = client.put(group, json={"status": "ordered"})
    assert ordered.status_code == 200, ordered.json
    return {**line, "status": "ordered", "group_url": group}


def receive(client: FlaskClient, line_id: int, *allocations: tuple[int, int, int]):
    body = {
        "receive_qty": sum(qty for _box, _loc, qty in allocations),
        "allocations": [{"box_no": b, "loc_no": loc, "qty": q} for b, loc, q in allocations],
    }
    return client.post(f"/api/shopping-list-lines/{line_id}/receive", json=body)


def get_line(client: FlaskClient, line: dict[str, Any]) -> dict[str, Any]:
    detail = client.get(f"/api/shopping-lists/{line['shopping_list_id']}").json
    return next(row for row in detail["lines"] if row["id"] == line["id"])


# --- lists ------------------------------------------------------------------------------------


def test_a_new_list_is_active_and_empty(client, new_list) -> None:
    created = new_list("Q1 order", description="for the synth")
    assert created["status"] == "active" and created["description"] == "for the synth"
    assert created["line_counts"] == {"new": 0, "ordered": 0, "done": 0}
    assert created["lines"] == []
    assert [g["group_key"] for g in created["seller_groups"]] == ["ungrouped"]
    assert client.get(f"/api/shopping-lists/{created['id']}").json == created


def test_list_names_are_unique_ignoring_case(client, new_list) -> None:
    new_list("Q1 order")
    response = client.post("/api/shopping-lists", json={"name": "q1 ORDER"})
    assert response.status_code == 409 and response.json["code"] == "SHOPPING_LIST_NAME_TAKEN"


def test_the_list_index_hides_done_lists_unless_asked(client, new_list) -> None:
    active = new_list("Active")
    done = new_list("Done")
    client.put(f"/api/shopping-lists/{done['id']}/status", json={"status": "done"})
    assert [row["id"] for row in client.get("/api/shopping-lists").json] == [active["id"]]
    everything = client.get("/api/shopping-lists?include_done=true").json
    assert {row["id"] for row in everything} == {active["id"], done["id"]}
    only_done = client.get("/api/shopping-lists?status=done").json
    assert [row["id"] for row in only_done] == [done["id"]]
    both = client.get("/api/shopping-lists?status=active&status=done").json
    assert {row["id"] for row in both} == {active["id"], done["id"]}
    assert client.get("/api/shopping-lists?status=ready").status_code == 400


def test_a_done_list_cannot_go_back_to_active(client, new_list) -> None:
    created = new_list()
    url = f"/api/shopping-lists/{created['id']}/status"
    assert client.put(url, json={"status": "done"}).json["status"] == "done"
    response = client.put(url, json={"status": "active"})
    assert response.status_code == 409 and response.json["code"] == "INVALID_STATUS_TRANSITION"
    assert "from done to active" in response.json["error"]
    assert client.put(url, json={"status": "ready"}).status_code == 400


def test_a_done_list_takes_no_new_lines(app, client, new_list, new_part) -> None:
    created = new_list()
    client.put(f"/api/shopping-lists/{created['id']}/status", json={"status": "done"})
    part = new_part()
    response = client.post(
        f"/api/shopping-lists/{created['id']}/lines",
        json={"part_id": _part_id(app, part["key"]), "needed": 1},
    )
    assert response.status_code == 409 and response.json["code"] == "SHOPPING_LIST_DONE"


def test_updating_the_name_and_description(client, new_list) -> None:
    created = new_list("Old")
    new_list("Taken")
    url = f"/api/shopping-lists/{created['id']}"
    changed = client.put(url, json={"name": "New"})
    assert changed.status_code == 200
    assert (changed.json["name"], changed.json["description"]) == ("New", None)
    assert client.put(url, json={"name": "taken"}).json["code"] == "SHOPPING_LIST_NAME_TAKEN"


# --- lines ------------------------------------------------------------------------------------


def test_a_line_carries_its_part_stock_and_seller(
    app, client, box, new_list, new_seller, new_part
) -> None:
    shopping_list = new_list()
    seller = new_seller()
    part = new_part(description="555 timer", manufacturer_code="NE555P")
    add_stock(client, part["key"], 2, 4)
    client.post(
        f"/api/parts/{part['key']}/seller-links",
        json={"seller_id": seller["id"], "link": "https://digikey.example/ne555"},
    )
    response = client.post(
        f"/api/shopping-lists/{shopping_list['id']}/lines",
        json={"part_id": _part_id(app, part["key"]), "needed": 5, "seller_id": seller["id"]},
    )
    assert response.status_code == 201, response.json
    line = response.json
    assert (line["status"], line["needed"], line["ordered"], line["received"]) == ("new", 5, 0, 0)
    assert line["part"]["key"] == part["key"] and line["part"]["manufacturer_code"] == "NE555P"
    assert [(p["box_no"], p["loc_no"], p["qty"]) for p in line["part_locations"]] == [(1, 2, 4)]
    assert line["seller"]["name"] == "DigiKey" and line["seller"]["logo_url"]
    assert line["seller_link"] == "https://digikey.example/ne555"
    assert line["can_receive"] is False and line["has_quantity_mismatch"] is False


def test_a_part_is_on_a_list_once(app, client, new_list, new_line) -> None:
    shopping_list = new_list()
    line = new_line(shopping_list["id"])
    again = client.post(
        f"/api/shopping-lists/{shopping_list['id']}/lines",
        json={"part_id": line["part_id"], "needed": 3},
    )
    assert again.status_code == 409 and again.json["code"] == "PART_ALREADY_ON_LIST"


def test_a_line_for_an_unknown_part_or_seller_is_404(client, new_list, new_line) -> None:
    shopping_list = new_list()
    url = f"/api/shopping-lists/{shopping_list['id']}/lines"
    assert client.post(url, json={"part_id": 999999, "needed": 1}).status_code == 404
    line = new_line(shopping_list["id"])
    response = client.put(f"/api/shopping-list-lines/{line['id']}", json={"seller_id": 999999})
    assert response.status_code == 404


def test_a_seller_puts_the_line_in_that_sellers_group(
    client, new_list, new_seller, new_line
) -> None:
    shopping_list = new_list()
    seller = new_seller()
    line = new_line(shopping_list["id"], needed=4)
    moved = client.put(f"/api/shopping-list-lines/{line['id']}", json={"seller_id": seller["id"]})
    assert moved.status_code == 200 and moved.json["seller_id"] == seller["id"]
    detail = client.get(f"/api/shopping-lists/{shopping_list['id']}").json
    groups = {g["group_key"]: g for g in detail["seller_groups"]}
    assert groups["ungrouped"]["lines"] == []
    group = groups[str(seller["id"])]
    assert (group["status"], group["note"], group["totals"]["needed"]) == ("active", "", 4)
    assert [row["id"] for row in group["lines"]] == [line["id"]]


def test_the_lines_route_lists_light_lines(client, new_list, new_line) -> None:
    shopping_list = new_list()
    line = new_line(shopping_list["id"], note="for the VCO")
    lines = client.get(f"/api/shopping-lists/{shopping_list['id']}/lines").json["lines"]
    assert [(row["id"], row["note"]) for row in lines] == [(line["id"], "for the VCO")]
    assert "part" not in lines[0] and "seller" not in lines[0]


def test_deleting_a_line_and_a_list(client, new_list, new_line) -> None:
    shopping_list = new_list()
    line = new_line(shopping_list["id"])
    assert client.delete(f"/api/shopping-list-lines/{line['id']}").status_code == 204
    assert client.delete(f"/api/shopping-list-lines/{line['id']}").status_code == 404
    assert client.delete(f"/api/shopping-lists/{shopping_list['id']}").status_code == 204
    assert client.get(f"/api/shopping-lists/{shopping_list['id']}").status_code == 404


# --- seller groups and ordering ---------------------------------------------------------------


def test_ordering_a_group_needs_every_ordered_quantity(
    client, new_list, new_seller, new_line
) -> None:
    shopping_list = new_list()
    seller = new_seller()
    line = new_line(shopping_list["id"], seller_id=seller["id"])
    group = f"/api/shopping-lists/{shopping_list['id']}/seller-groups/{seller['id']}"
    refused = client.put(group, json={"status": "ordered"})
    assert refused.status_code == 409 and refused.json["code"] == "ORDERED_QUANTITY_MISSING"
    assert client.get(group).json["status"] == "active"
    client.put(f"/api/shopping-list-lines/{line['id']}", json={"ordered": 12})
    ordered = client.put(group, json={"status": "ordered", "note": "PO 4711"})
    assert ordered.status_code == 200
    assert (ordered.json["status"], ordered.json["note"]) == ("ordered", "PO 4711")
    assert [(ln["status"], ln["ordered"], ln["can_receive"]) for ln in ordered.json["lines"]] == [
        ("ordered", 12, True)
    ]


def test_an_ordered_line_keeps_its_ordered_quantity_and_seller(
    client, ordered_line, new_seller
) -> None:
    url = f"/api/shopping-list-lines/{ordered_line['id']}"
    unchanged = client.put(
        url, json={"needed": 10, "ordered": 10, "seller_id": ordered_line["seller_id"], "note": "x"}
    )
    assert unchanged.status_code == 200 and unchanged.json["note"] == "x"
    refused = client.put(url, json={"ordered": 11})
    assert refused.status_code == 409 and refused.json["code"] == "LINE_NOT_NEW"
    other = new_seller("Mouser")
    assert client.put(url, json={"seller_id": other["id"]}).json["code"] == "LINE_NOT_NEW"


def test_an_ordered_group_takes_no_new_lines(client, ordered_line, new_line) -> None:
    line = new_line(ordered_line["shopping_list_id"])
    moved = client.put(
        f"/api/shopping-list-lines/{line['id']}", json={"seller_id": ordered_line["seller_id"]}
    )
    assert moved.status_code == 409 and moved.json["code"] == "SELLER_GROUP_ORDERED"


def test_reopening_a_group_turns_its_lines_new(client, ordered_line) -> None:
    reopened = client.put(ordered_line["group_url"], json={"status": "active"})
    assert reopened.status_code == 200
    assert [ln["status"] for ln in reopened.json["lines"]] == ["new"]


def test_a_group_that_received_stock_cannot_be_reopened(client, ordered_line) -> None:
    assert receive(client, ordered_line["id"], (1, 1, 3)).status_code == 200
    refused = client.put(ordered_line["group_url"], json={"status": "active"})
    assert refused.status_code == 409 and refused.json["code"] == "SELLER_GROUP_HAS_RECEIPTS"
    assert get_line(client, ordered_line)["status"] == "ordered"


def test_deleting_groups(client, ordered_line, new_list, new_seller, new_line) -> None:
    refused = client.delete(ordered_line["group_url"])
    assert refused.status_code == 409 and refused.json["code"] == "SELLER_GROUP_ORDERED"
    shopping_list = new_list("Other")
    seller = new_seller("Mouser")
    line = new_line(shopping_list["id"], seller_id=seller["id"])
    group = f"/api/shopping-lists/{shopping_list['id']}/seller-groups/{seller['id']}"
    assert client.delete(group).status_code == 204
    assert client.get(group).status_code == 404
    assert get_line(client, line)["seller_id"] is None


def test_creating_a_group_twice_is_409(client, new_list, new_seller) -> None:
    shopping_list = new_list()
    seller = new_seller()
    url = f"/api/shopping-lists/{shopping_list['id']}/seller-groups"
    created = client.post(url, json={"seller_id": seller["id"]})
    assert created.status_code == 201
    assert (created.json["group_key"], created.json["lines"]) == (str(seller["id"]), [])
    again = client.post(url, json={"seller_id": seller["id"]})
    assert again.status_code == 409 and again.json["code"] == "SELLER_GROUP_EXISTS"
    assert client.post(url, json={"seller_id": 999999}).status_code == 404


# --- receiving and completing -----------------------------------------------------------------


def test_receiving_puts_the_stock_into_the_locations(client, ordered_line) -> None:
    key = ordered_line["part"]["key"]
    response = receive(client, ordered_line["id"], (1, 1, 6), (1, 3, 4))
    assert response.status_code == 200, response.json
    assert response.json["received"] == 10 and response.json["status"] == "ordered"
    assert stock_of(client, key) == {(1, 1): 6, (1, 3): 4}
    assert get_line(client, ordered_line)["received"] == 10
    history = client.get(f"/api/parts/{key}/history").json
    assert sorted(row["delta_qty"] for row in history) == [4, 6]
    taken = client.delete(
        f"/api/inventory/parts/{key}/stock", json={"box_no": 1, "loc_no": 1, "qty": 6}
    )
    assert taken.status_code == 204
    assert stock_of(client, key) == {(1, 3): 4}
    assert get_line(client, ordered_line)["received"] == 10  # what arrived, not what is left


def test_a_receipt_into_an_unknown_location_changes_nothing(client, ordered_line) -> None:
    key = ordered_line["part"]["key"]
    response = receive(client, ordered_line["id"], (1, 1, 6), (1, 9, 4))
    assert response.status_code == 404
    assert stock_of(client, key) == {}
    assert get_line(client, ordered_line)["received"] == 0
    assert client.get(f"/api/parts/{key}/history").json == []


def test_allocations_must_add_up_to_the_received_quantity(client, ordered_line) -> None:
    response = client.post(
        f"/api/shopping-list-lines/{ordered_line['id']}/receive",
        json={"receive_qty": 5, "allocations": [{"box_no": 1, "loc_no": 1, "qty": 4}]},
    )
    assert response.status_code == 400
    assert get_line(client, ordered_line)["received"] == 0


def test_a_new_line_cannot_receive(client, box, new_list, new_line) -> None:
    line = new_line(new_list()["id"])
    response = receive(client, line["id"], (1, 1, 1))
    assert response.status_code == 409 and response.json["code"] == "LINE_NOT_ORDERED"
    assert stock_of(client, line["part"]["key"]) == {}


def test_receiving_more_than_ordered_shows_a_mismatch(client, ordered_line) -> None:
    line = receive(client, ordered_line["id"], (1, 1, 12)).json
    assert (line["received"], line["has_quantity_mismatch"]) == (12, True)


def test_completing_with_a_mismatch_needs_a_reason(client, ordered_line) -> None:
    receive(client, ordered_line["id"], (1, 1, 7))
    url = f"/api/shopping-list-lines/{ordered_line['id']}/complete"
    refused = client.post(url, json={})
    assert refused.status_code == 400
    done = client.post(url, json={"mismatch_reason": "3 back-ordered"})
    assert done.status_code == 200
    body = done.json
    assert (body["status"], body["completion_mismatch"], body["completion_note"]) == (
        "done",
        True,
        "3 back-ordered",
    )
    assert body["completed_at"] and body["can_receive"] is False
    assert client.post(url, json={}).json["code"] == "LINE_NOT_ORDERED"
    assert receive(client, ordered_line["id"], (1, 1, 1)).status_code == 409


def test_completing_a_fully_received_line(client, ordered_line) -> None:
    receive(client, ordered_line["id"], (1, 2, 10))
    done = client.post(f"/api/shopping-list-lines/{ordered_line['id']}/complete", json={})
    assert done.status_code == 200
    assert (done.json["status"], done.json["completion_mismatch"]) == ("done", False)
    group = client.get(ordered_line["group_url"]).json
    assert group["completed"] is True and group["totals"]["received"] == 10


def test_concurrent_receipts_of_one_line_all_count(app, client, ordered_line) -> None:
    url = f"/api/shopping-list-lines/{ordered_line['id']}/receive"
    body = {"receive_qty": 1, "allocations": [{"box_no": 1, "loc_no": 1, "qty": 1}]}
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _n: app.test_client().post(url, json=body).status_code, range(8))
        )
    assert statuses == [200] * 8
    assert get_line(client, ordered_line)["received"] == 8
    assert stock_of(client, ordered_line["part"]["key"]) == {(1, 1): 8}


def test_a_receipt_racing_a_completion_never_counts_on_a_done_line(
    app, client, ordered_line
) -> None:
    receive(client, ordered_line["id"], (1, 1, 10))
    line_url = f"/api/shopping-list-lines/{ordered_line['id']}"
    body = {"receive_qty": 2, "allocations": [{"box_no": 1, "loc_no": 2, "qty": 2}]}

    def act(which: str) -> int:
        with app.test_client() as other:
            if which == "complete":
                return other.post(f"{line_url}/complete", json={"mismatch_reason": "r"}).status_code
            return other.post(f"{line_url}/receive", json=body).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        complete_status, receive_status = pool.map(act, ["complete", "receive"])
    line = get_line(client, ordered_line)
    received_in_stock = stock_of(client, ordered_line["part"]["key"]).get((1, 2), 0)
    # Whichever came first, the count and the stock agree, and a done line received nothing
    # after its completion (a completion that lost the race to a receipt is a 409).
    assert line["received"] == 10 + received_in_stock
    assert (receive_status == 200) == (received_in_stock == 2)
    assert line["status"] == ("done" if complete_status == 200 else "ordered")
    assert 200 in (complete_status, receive_status)


# --- kits -------------------------------------------------------------------------------------


@pytest.fixture
def kit(app, client, box, new_part, new_kit) -> dict[str, Any]:
    """A kit (build target 2) needing 2 of A and 1 of B per unit; A has 3 in stock, B none."""
    a = new_part(description="TL072")
    b = new_part(description="Jack")
    add_stock(client, a["key"], 1, 3)
    made = new_kit("Synth voice", build_target=2)
    for part, per_unit, note in ((a, 2, "op amp"), (b, 1, None)):
        response = client.post(
            f"/api/kits/{made['id']}/contents",
            json={
                "part_id": _part_id(app, part["key"]),
                "required_per_unit": per_unit,
                "note": note,
            },
        )
        assert response.status_code == 201, response.json
    return {"id": made["id"], "a": a["key"], "b": b["key"]}


def push(client: FlaskClient, kit_id: int, **body: Any):
    return client.post(f"/api/kits/{kit_id}/shopping-lists", json=body)


def needs(detail: dict[str, Any]) -> dict[str, int]:
    return {line["part"]["key"]: line["needed"] for line in detail["lines"]}


def test_a_kit_push_creates_a_list_of_its_shortfall(client, kit) -> None:
    response = push(client, kit["id"], new_list_name="Synth order", note_prefix="from kit")
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["created_new_list"], body["noop"], body["lines_modified"]) == (True, False, 2)
    assert body["total_needed_quantity"] == 1 + 2  # A: 4 - 3 in stock; B: 2
    assert needs(body["shopping_list"]) == {kit["a"]: 1, kit["b"]: 2}
    notes = {line["part"]["key"]: line["note"] for line in body["shopping_list"]["lines"]}
    assert notes == {kit["a"]: "op amp", kit["b"]: "from kit"}
    link = body["link"]
    assert (link["shopping_list_name"], link["requested_units"], link["status"]) == (
        "Synth order",
        2,
        "active",
    )
    assert link["is_stale"] is False


def test_pushing_again_raises_the_needed_quantities(client, kit) -> None:
    first = push(client, kit["id"], new_list_name="Synth order").json
    list_id = first["shopping_list"]["id"]
    again = push(client, kit["id"], shopping_list_id=list_id, units=3)
    assert again.status_code == 200 and again.json["created_new_list"] is False
    assert needs(again.json["shopping_list"]) == {kit["a"]: 1 + 3, kit["b"]: 2 + 3}
    links = client.get(f"/api/kits/{kit['id']}/shopping-lists").json
    assert [(lk["shopping_list_id"], lk["requested_units"]) for lk in links] == [(list_id, 3)]


def test_a_push_with_enough_stock_is_a_noop(client, kit) -> None:
    add_stock(client, kit["a"], 2, 10)
    add_stock(client, kit["b"], 3, 10)
    response = push(client, kit["id"], new_list_name="Nothing")
    assert response.status_code == 200
    assert (response.json["noop"], response.json["link"], response.json["shopping_list"]) == (
        True,
        None,
        None,
    )
    assert client.get("/api/shopping-lists").json == []


def test_honoring_reservations_subtracts_other_kits_needs(app, client, kit, new_kit) -> None:
    other = new_kit("Other voice", build_target=1)
    client.post(
        f"/api/kits/{other['id']}/contents",
        json={"part_id": _part_id(app, kit["a"]), "required_per_unit": 3},
    )
    plain = push(client, kit["id"], new_list_name="Plain").json
    honored = push(client, kit["id"], new_list_name="Honored", honor_reserved=True).json
    assert needs(plain["shopping_list"])[kit["a"]] == 1
    assert needs(honored["shopping_list"])[kit["a"]] == 4  # the other kit reserves all 3
    assert honored["link"]["honor_reserved"] is True


def test_a_push_into_an_ordered_line_changes_nothing(client, kit, new_seller) -> None:
    detail = push(client, kit["id"], new_list_name="Synth order").json["shopping_list"]
    seller = new_seller()
    line = next(ln for ln in detail["lines"] if ln["part"]["key"] == kit["a"])
    client.put(
        f"/api/shopping-list-lines/{line['id']}", json={"seller_id": seller["id"], "ordered": 1}
    )
    client.put(
        f"/api/shopping-lists/{detail['id']}/seller-groups/{seller['id']}",
        json={"status": "ordered"},
    )
    refused = push(client, kit["id"], shopping_list_id=detail["id"])
    assert refused.status_code == 409 and refused.json["code"] == "LINE_NOT_NEW"
    assert needs(client.get(f"/api/shopping-lists/{detail['id']}").json) == needs(detail)


def test_a_push_needs_exactly_one_target(client, kit, new_list) -> None:
    assert push(client, kit["id"]).status_code == 400
    existing = new_list()
    both = push(client, kit["id"], shopping_list_id=existing["id"], new_list_name="X")
    assert both.status_code == 400
    assert push(client, kit["id"], shopping_list_id=999999).status_code == 404
    assert push(client, 999999, new_list_name="X").status_code == 404


def test_removing_a_kit_link_keeps_the_lines(client, kit) -> None:
    body = push(client, kit["id"], new_list_name="Synth order").json
    list_id = body["shopping_list"]["id"]
    chips = client.get(f"/api/shopping-lists/{list_id}/kits").json
    assert [(c["kit_id"], c["kit_name"], c["kit_status"]) for c in chips] == [
        (kit["id"], "Synth voice", "active")
    ]
    assert client.delete(f"/api/kit-shopping-list-links/{body['link']['id']}").status_code == 204
    assert client.get(f"/api/shopping-lists/{list_id}/kits").json == []
    assert client.get(f"/api/kits/{kit['id']}/shopping-lists").json == []
    assert len(client.get(f"/api/shopping-lists/{list_id}").json["lines"]) == 2
    assert client.delete(f"/api/kit-shopping-list-links/{body['link']['id']}").status_code == 404


def test_deleting_the_kit_drops_its_links_and_keeps_the_list(client, kit) -> None:
    body = push(client, kit["id"], new_list_name="Synth order").json
    list_id = body["shopping_list"]["id"]
    assert client.delete(f"/api/kits/{kit['id']}").status_code == 204
    assert client.get(f"/api/shopping-lists/{list_id}/kits").json == []
    assert len(client.get(f"/api/shopping-lists/{list_id}").json["lines"]) == 2


def test_a_kit_change_after_the_push_makes_the_link_stale(client, kit) -> None:
    body = push(client, kit["id"], new_list_name="Synth order").json
    assert client.patch(f"/api/kits/{kit['id']}", json={"build_target": 5}).status_code == 200
    links = client.get(f"/api/kits/{kit['id']}/shopping-lists").json
    assert links[0]["id"] == body["link"]["id"] and links[0]["is_stale"] is True


def test_kit_links_of_kits_for_the_kit_detail(app, client, kit, new_kit) -> None:
    body = push(client, kit["id"], new_list_name="Synth order").json
    empty = new_kit("Empty")
    with app.app_context():
        links = kit_links_of_kits([kit["id"], empty["id"]])
    assert links == {kit["id"]: [body["link"]], empty["id"]: []}


def test_the_kit_membership_query_costs_the_same_for_any_number_of_kits(
    app, client, kit, new_kit, query_counter
) -> None:
    push(client, kit["id"], new_list_name="Synth order")
    few = [kit["id"]]
    many = [kit["id"], *(new_kit(f"Kit {n}")["id"] for n in range(6))]
    counts = []
    for ids in (few, many):
        query_counter.reset()
        response = client.post("/api/kits/shopping-list-memberships/query", json={"kit_ids": ids})
        assert response.status_code == 200
        counts.append(query_counter.count)
        assert [m["kit_id"] for m in response.json["memberships"]] == ids
    assert counts[0] == counts[1], counts
    first = response.json["memberships"][0]["memberships"]
    assert [m["shopping_list_name"] for m in first] == ["Synth order"]
    missing = client.post("/api/kits/shopping-list-memberships/query", json={"kit_ids": [999999]})
    assert missing.status_code == 404


def test_kit_memberships_leave_done_lists_out_unless_asked(client, kit) -> None:
    body = push(client, kit["id"], new_list_name="Synth order").json
    client.put(f"/api/shopping-lists/{body['shopping_list']['id']}/status", json={"status": "done"})
    url = "/api/kits/shopping-list-memberships/query"
    assert (
        client.post(url, json={"kit_ids": [kit["id"]]}).json["memberships"][0]["memberships"] == []
    )
    asked = client.post(url, json={"kit_ids": [kit["id"]], "include_done": True}).json
    assert asked["memberships"][0]["memberships"][0]["status"] == "done"


# --- parts ------------------------------------------------------------------------------------


def test_adding_a_part_from_the_part_view(client, new_list, new_part, new_seller) -> None:
    shopping_list = new_list()
    seller = new_seller()
    part = new_part()
    url = f"/api/parts/{part['key']}/shopping-list-memberships"
    created = client.post(
        url,
        json={"shopping_list_id": shopping_list["id"], "needed": 7, "seller_id": seller["id"]},
    )
    assert created.status_code == 201, created.json
    assert created.json["shopping_list_name"] == "Q1 order" and created.json["needed"] == 7
    assert created.json["seller"]["id"] == seller["id"] and created.json["line_status"] == "new"
    assert client.get(url).json == [created.json]
    assert client.get("/api/parts/ZZZZ/shopping-list-memberships").status_code == 404
    unknown = client.post(url, json={"shopping_list_id": 999999, "needed": 1})
    assert unknown.status_code == 404
    client.put(f"/api/shopping-lists/{shopping_list['id']}/status", json={"status": "done"})
    assert client.get(url).json == []  # done lists are not memberships any more


def test_the_part_membership_query_costs_the_same_for_any_number_of_parts(
    client, new_list, new_line, new_seller, query_counter
) -> None:
    shopping_list = new_list()
    seller = new_seller()
    lines = [new_line(shopping_list["id"], seller_id=seller["id"]) for _n in range(6)]
    keys = [line["part"]["key"] for line in lines]
    counts = []
    for asked in (keys[:1], keys):
        query_counter.reset()
        response = client.post(
            "/api/parts/shopping-list-memberships/query", json={"part_keys": asked}
        )
        assert response.status_code == 200
        counts.append(query_counter.count)
        assert [m["part_key"] for m in response.json["memberships"]] == asked
    assert counts[0] == counts[1], counts
    assert all(
        m["memberships"][0]["seller"]["name"] == "DigiKey" for m in response.json["memberships"]
    )
    unknown = client.post(
        "/api/parts/shopping-list-memberships/query", json={"part_keys": ["ZZZZ"]}
    )
    assert unknown.status_code == 404


def test_part_memberships_leave_done_lines_out_unless_asked(client, ordered_line) -> None:
    receive(client, ordered_line["id"], (1, 1, 10))
    client.post(f"/api/shopping-list-lines/{ordered_line['id']}/complete", json={})
    url = "/api/parts/shopping-list-memberships/query"
    key = ordered_line["part"]["key"]
    assert client.post(url, json={"part_keys": [key]}).json["memberships"][0]["memberships"] == []
    asked = client.post(url, json={"part_keys": [key], "include_done": True}).json
    assert asked["memberships"][0]["memberships"][0]["line_status"] == "done"


def test_the_parts_hook_answers_for_many_parts(app, client, new_list, new_line) -> None:
    shopping_list = new_list()
    line = new_line(shopping_list["id"], needed=3)
    with app.app_context():
        answers = get_state().plugin_manager.hook.part_shopping_lists(
            part_ids=[line["part_id"], 999999], include_done=False
        )
    merged = {k: v for answer in answers if answer for k, v in answer.items()}
    assert [(m["line_id"], m["needed"]) for m in merged[line["part_id"]]] == [(line["id"], 3)]
    assert 999999 not in merged


def test_a_part_on_a_list_cannot_be_deleted(client, new_list, new_line) -> None:
    line = new_line(new_list()["id"])
    refused = client.delete(f"/api/parts/{line['part']['key']}")
    assert refused.status_code == 409 and refused.json["code"] == "PART_IN_USE"
    client.delete(f"/api/shopping-list-lines/{line['id']}")
    assert client.delete(f"/api/parts/{line['part']['key']}").status_code == 204


# --- sellers ----------------------------------------------------------------------------------


def test_a_seller_used_by_lines_cannot_be_deleted(client, new_list, new_seller, new_line) -> None:
    seller = new_seller()
    line = new_line(new_list()["id"], seller_id=seller["id"])
    refused = client.delete(f"/api/sellers/{seller['id']}")
    assert refused.status_code == 409 and refused.json["code"] == "SELLER_IN_USE"
    assert "Q1 order" in refused.json["error"]
    client.delete(f"/api/shopping-list-lines/{line['id']}")
    still = client.delete(f"/api/sellers/{seller['id']}")  # its (empty) group remains
    assert still.status_code == 409 and "seller group" in still.json["error"]
    client.delete(f"/api/shopping-lists/{line['shopping_list_id']}/seller-groups/{seller['id']}")
    assert client.delete(f"/api/sellers/{seller['id']}").status_code == 204


# --- costs ------------------------------------------------------------------------------------


def test_a_list_detail_costs_the_same_for_any_number_of_lines(
    client, box, new_list, new_seller, new_line, query_counter
) -> None:
    small = new_list("Small")
    big = new_list("Big")
    sellers = [new_seller("DigiKey"), new_seller("Mouser")]
    new_line(small["id"], seller_id=sellers[0]["id"])
    for n in range(6):
        line = new_line(big["id"], seller_id=sellers[n % 2]["id"])
        add_stock(client, line["part"]["key"], 1 + n % 4, 2)
    counts = []
    for shopping_list in (small, big):
        query_counter.reset()
        assert client.get(f"/api/shopping-lists/{shopping_list['id']}").status_code == 200
        counts.append(query_counter.count)
    assert counts[0] == counts[1], counts
