"""The pick lists plugin: preview, allocation, pick and undo through the inventory, PDF (both
databases)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pypdfium2
import pytest
from flask import Flask
from flask.testing import FlaskClient

from plugins.parts.service import get_part
from tests.plugins.conftest import make_png


def _part_id(app: Flask, key: str) -> int:
    with app.app_context():
        return get_part(key).id


def stock(client: FlaskClient, key: str, loc_no: int, qty: int, box_no: int = 1) -> None:
    response = client.post(
        f"/api/inventory/parts/{key}/stock", json={"box_no": box_no, "loc_no": loc_no, "qty": qty}
    )
    assert response.status_code == 201, response.json


def total(client: FlaskClient, key: str) -> int:
    rows = client.get(f"/api/parts/{key}/history").json
    return sum(row["delta_qty"] for row in rows)


@pytest.fixture
def kit(app, client, new_part, new_kit) -> dict[str, Any]:
    """A kit needing 2 of part A and 1 of part B per unit; A in 1-1 (3) and 1-2 (5), B in 1-3
    (1); box 1 has 4 locations."""
    assert (
        client.post("/api/boxes", json={"description": "Kit parts", "capacity": 4}).status_code
        == 201
    )
    a = new_part(description="555 timer")
    b = new_part(description="Pot 10k")
    stock(client, a["key"], 1, 3)
    stock(client, a["key"], 2, 5)
    stock(client, b["key"], 3, 1)
    made = new_kit("Synth voice")
    for part, per_unit in ((a, 2), (b, 1)):
        response = client.post(
            f"/api/kits/{made['id']}/contents",
            json={"part_id": _part_id(app, part["key"]), "required_per_unit": per_unit},
        )
        assert response.status_code == 201, response.json
    return {"id": made["id"], "a": a["key"], "b": b["key"]}


def create(client: FlaskClient, kit_id: int, units: int, **handling: str):
    body: dict[str, Any] = {"requested_units": units}
    if handling:
        body["shortfall_handling"] = {key: {"action": action} for key, action in handling.items()}
    return client.post(f"/api/kits/{kit_id}/pick-lists", json=body)


def test_preview_names_parts_short_of_usable_stock(client, kit) -> None:
    response = client.post(f"/api/kits/{kit['id']}/pick-lists/preview", json={"requested_units": 2})
    assert response.status_code == 200
    assert response.json == {
        "parts_with_shortfall": [
            {
                "part_key": kit["b"],
                "required_quantity": 2,
                "usable_quantity": 1,
                "shortfall_amount": 1,
            }
        ]
    }


def test_a_list_allocates_over_locations_in_box_order(client, kit) -> None:
    response = create(client, kit["id"], 2, **{kit["b"]: "limit"})
    assert response.status_code == 201, response.json
    detail = response.json
    assert detail["kit_name"] == "Synth voice" and detail["status"] == "open"
    lines = [
        (ln["kit_content"]["part_key"], ln["location"]["loc_no"], ln["quantity_to_pick"])
        for ln in detail["lines"]
    ]
    assert lines == [(kit["a"], 1, 3), (kit["a"], 2, 1), (kit["b"], 3, 1)]
    assert (
        detail["line_count"],
        detail["total_quantity_to_pick"],
        detail["remaining_quantity"],
    ) == (3, 5, 5)
    assert detail["lines"][0]["location"]["box_description"] == "Kit parts"


def test_a_short_part_is_rejected_by_default_naming_it(client, kit) -> None:
    response = create(client, kit["id"], 2)
    assert response.status_code == 409
    assert response.json["code"] == "PICK_LIST_SHORTFALL"
    assert [p["part_key"] for p in response.json["details"]["parts"]] == [kit["b"]]
    assert client.get(f"/api/kits/{kit['id']}/pick-lists").json == []


def test_omit_leaves_the_short_part_out(client, kit) -> None:
    detail = create(client, kit["id"], 2, **{kit["b"]: "omit"}).json
    assert {ln["kit_content"]["part_key"] for ln in detail["lines"]} == {kit["a"]}


def test_open_lists_reserve_their_stock_for_later_lists(client, kit) -> None:
    create(client, kit["id"], 1)
    preview = client.post(
        f"/api/kits/{kit['id']}/pick-lists/preview", json={"requested_units": 4}
    ).json
    short = {p["part_key"]: p for p in preview["parts_with_shortfall"]}
    assert short[kit["a"]]["usable_quantity"] == 6  # 8 in stock, 2 planned by the open list
    assert short[kit["b"]]["usable_quantity"] == 0


def test_picking_takes_stock_out_and_completes_the_list(client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    for line in detail["lines"]:
        response = client.post(f"/api/pick-lists/{detail['id']}/lines/{line['id']}/pick")
        assert response.status_code == 200, response.json
    done = response.json
    assert done["status"] == "completed" and done["completed_at"]
    assert all(ln["status"] == "completed" and ln["inventory_change_id"] for ln in done["lines"])
    assert (done["picked_quantity"], done["remaining_quantity"]) == (3, 0)
    assert total(client, kit["a"]) == 6 and total(client, kit["b"]) == 0
    history = client.get(f"/api/parts/{kit['a']}/history").json
    assert (
        history[0]["delta_qty"] == -2
        and history[0]["id"] == done["lines"][0]["inventory_change_id"]
    )


def test_undo_puts_stock_back_and_reopens(client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    line = detail["lines"][0]
    client.post(f"/api/pick-lists/{detail['id']}/lines/{line['id']}/pick")
    undone = client.post(f"/api/pick-lists/{detail['id']}/lines/{line['id']}/undo")
    assert undone.status_code == 200
    assert undone.json["lines"][0]["status"] == "open" and undone.json["status"] == "open"
    assert total(client, kit["a"]) == 8
    again = client.post(f"/api/pick-lists/{detail['id']}/lines/{line['id']}/undo")
    assert again.status_code == 409 and again.json["code"] == "LINE_NOT_PICKED"


def test_a_line_is_picked_once(client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    url = f"/api/pick-lists/{detail['id']}/lines/{detail['lines'][0]['id']}/pick"
    assert client.post(url).status_code == 200
    second = client.post(url)
    assert second.status_code == 409 and second.json["code"] == "LINE_ALREADY_PICKED"
    assert total(client, kit["a"]) == 6


def test_picking_without_the_stock_is_409_and_changes_nothing(client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    b_line = next(ln for ln in detail["lines"] if ln["kit_content"]["part_key"] == kit["b"])
    client.delete(
        f"/api/inventory/parts/{kit['b']}/stock", json={"box_no": 1, "loc_no": 3, "qty": 1}
    )
    response = client.post(f"/api/pick-lists/{detail['id']}/lines/{b_line['id']}/pick")
    assert response.status_code in (404, 409)
    after = client.get(f"/api/pick-lists/{detail['id']}").json
    assert next(ln for ln in after["lines"] if ln["id"] == b_line["id"])["status"] == "open"


def test_changing_a_line_quantity(client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    line = detail["lines"][0]
    url = f"/api/pick-lists/{detail['id']}/lines/{line['id']}"
    changed = client.patch(url, json={"quantity_to_pick": 0})
    assert changed.status_code == 200 and changed.json["lines"][0]["quantity_to_pick"] == 0
    assert client.patch(url, json={"quantity_to_pick": -1}).status_code == 400
    client.post(f"{url}/pick")
    assert total(client, kit["a"]) == 8  # a skipped line takes nothing
    assert client.patch(url, json={"quantity_to_pick": 2}).status_code == 409


def test_deleting_a_list_keeps_picked_stock_picked(client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    client.post(f"/api/pick-lists/{detail['id']}/lines/{detail['lines'][0]['id']}/pick")
    assert client.delete(f"/api/pick-lists/{detail['id']}").status_code == 204
    assert client.get(f"/api/pick-lists/{detail['id']}").status_code == 404
    assert total(client, kit["a"]) == 6


def test_kit_summaries_and_membership_query(client, kit, new_kit) -> None:
    first = create(client, kit["id"], 1).json
    other = new_kit("Empty kit")
    summaries = client.get(f"/api/kits/{kit['id']}/pick-lists").json
    assert [s["id"] for s in summaries] == [first["id"]]
    assert summaries[0]["open_line_count"] == 2 and "lines" not in summaries[0]
    answer = client.post(
        "/api/kits/pick-list-memberships/query", json={"kit_ids": [other["id"], kit["id"]]}
    ).json
    assert [m["kit_id"] for m in answer["memberships"]] == [other["id"], kit["id"]]
    assert answer["memberships"][0]["pick_lists"] == []
    assert answer["memberships"][1]["pick_lists"][0]["id"] == first["id"]
    missing = client.post("/api/kits/pick-list-memberships/query", json={"kit_ids": [999999]})
    assert missing.status_code == 404


def test_the_pdf_lists_every_line_with_thumbnails(client, kit) -> None:
    part = client.get(f"/api/parts/{kit['a']}").json
    client.post(
        f"/api/attachment-sets/{part['attachment_set_id']}/attachments",
        data={"file": (io.BytesIO(make_png("blue")), "a.png"), "title": "photo"},
        content_type="multipart/form-data",
    )
    detail = create(client, kit["id"], 1).json
    response = client.get(f"/api/pick-lists/{detail['id']}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(response.data)
    text = document[0].get_textpage().get_text_range()
    assert kit["a"] in text and kit["b"] in text and "Synth voice" in text
    assert any(obj.type == pypdfium2.raw.FPDF_PAGEOBJ_IMAGE for obj in document[0].get_objects())


def test_concurrent_picks_of_one_line_take_the_stock_once(app, client, kit) -> None:
    detail = create(client, kit["id"], 1).json
    url = f"/api/pick-lists/{detail['id']}/lines/{detail['lines'][0]['id']}/pick"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _n: app.test_client().post(url).status_code, range(8)))
    assert sorted(statuses) == [200] + [409] * 7
    assert total(client, kit["a"]) == 6


def test_concurrent_picks_of_the_same_stock_never_go_below_zero(app, client, kit) -> None:
    first = create(client, kit["id"], 1, **{kit["b"]: "omit"}).json  # 2 of A from 1-1
    second = create(client, kit["id"], 1, **{kit["b"]: "omit"}).json  # 1 from 1-1, 1 from 1-2
    # Take one unit out of 1-1: its 2 left cannot serve both lists' 2 + 1 any more.
    client.delete(
        f"/api/inventory/parts/{kit['a']}/stock", json={"box_no": 1, "loc_no": 1, "qty": 1}
    )
    picks = [
        (f"/api/pick-lists/{pl['id']}/lines/{line['id']}/pick", line["quantity_to_pick"])
        for pl in (first, second)
        for line in pl["lines"]
        if line["location"]["loc_no"] == 1
    ]
    assert sorted(qty for _url, qty in picks) == [1, 2]
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda pick: app.test_client().post(pick[0]).status_code, picks))
    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (404, 409), statuses
    taken = sum(qty for (_url, qty), status in zip(picks, statuses, strict=True) if status == 200)
    locations = client.get("/api/boxes/1/locations?include_parts=true").json
    left = sum(a["qty"] for a in locations[0]["part_assignments"] if a["key"] == kit["a"])
    assert left == 2 - taken
    assert total(client, kit["a"]) == 7 - taken
