"""The inventory plugin's dashboard figures (both databases), each in a constant number of
queries."""

from __future__ import annotations

import io

import pytest

from tests.plugins.conftest import make_png


@pytest.fixture
def stocked(client, new_part):
    """Box 1 (4 locations) with three parts: 2 resistors (3 and 12 in stock) and a bare LED."""
    client.post("/api/boxes", json={"description": "Passives", "capacity": 4})
    types = {t["name"]: t["id"] for t in client.get("/api/types").json}
    low = new_part(description="1k resistor", type_id=types["Resistor"])
    plenty = new_part(description="10k resistor", type_id=types["Resistor"])
    bare = new_part(description="red LED", type_id=types["LED"])
    for part, loc, qty in ((low, 1, 3), (plenty, 2, 10), (plenty, 3, 2)):
        response = client.post(
            f"/api/inventory/parts/{part['key']}/stock",
            json={"box_no": 1, "loc_no": loc, "qty": qty},
        )
        assert response.status_code == 201
    return {"low": low, "plenty": plenty, "bare": bare}


def test_stats(client, stocked) -> None:
    stats = client.get("/api/dashboard/stats").json
    assert stats["total_parts"] == 3 and stats["total_quantity"] == 15
    assert stats["total_boxes"] == 1 and stats["total_types"] >= 2
    assert stats["changes_7d"] == 3 and stats["changes_30d"] == 3
    assert stats["low_stock_count"] == 1


def test_low_stock_lists_parts_at_or_below_the_threshold(client, stocked) -> None:
    assert client.get("/api/dashboard/low-stock").json == [
        {
            "part_key": stocked["low"]["key"],
            "description": "1k resistor",
            "type_name": "Resistor",
            "current_quantity": 3,
        }
    ]
    keys = [row["part_key"] for row in client.get("/api/dashboard/low-stock?threshold=12").json]
    assert keys == [stocked["low"]["key"], stocked["plenty"]["key"]]
    assert client.get("/api/dashboard/low-stock?threshold=-1").status_code == 400


def test_recent_activity_is_newest_first(client, stocked) -> None:
    rows = client.get("/api/dashboard/recent-activity?limit=2").json
    assert [(r["delta_qty"], r["location_reference"]) for r in rows] == [(2, "1-3"), (10, "1-2")]
    assert rows[0]["part_key"] == stocked["plenty"]["key"]
    assert rows[0]["part_description"] == "10k resistor"


def test_storage_summary(client, stocked) -> None:
    assert client.get("/api/dashboard/storage-summary").json == [
        {
            "box_no": 1,
            "description": "Passives",
            "total_locations": 4,
            "occupied_locations": 3,
            "usage_percentage": 75.0,
        }
    ]


def test_category_distribution(client, stocked) -> None:
    assert client.get("/api/dashboard/category-distribution").json == [
        {"type_name": "Resistor", "part_count": 2},
        {"type_name": "LED", "part_count": 1},
    ]


def test_parts_without_documents(client, stocked) -> None:
    part = stocked["plenty"]
    client.post(
        f"/api/attachment-sets/{part['attachment_set_id']}/attachments",
        data={"file": (io.BytesIO(make_png()), "p.png"), "title": "photo"},
        content_type="multipart/form-data",
    )
    answer = client.get("/api/dashboard/parts-without-documents").json
    assert answer["count"] == 2
    assert {p["part_key"] for p in answer["sample_parts"]} == {
        stocked["low"]["key"],
        stocked["bare"]["key"],
    }


@pytest.mark.parametrize(
    "path",
    [
        "stats",
        "low-stock",
        "recent-activity",
        "storage-summary",
        "category-distribution",
        "parts-without-documents",
    ],
)
def test_each_figure_costs_a_constant_number_of_queries(
    client, new_part, query_counter, path
) -> None:
    client.post("/api/boxes", json={"description": "B", "capacity": 20})
    counts = []
    for batch in (2, 8):
        for n in range(batch):
            part = new_part()
            client.post(
                f"/api/inventory/parts/{part['key']}/stock",
                json={"box_no": 1, "loc_no": (len(counts) * 2 + n) % 20 + 1, "qty": 1},
            )
        query_counter.reset()
        assert client.get(f"/api/dashboard/{path}").status_code == 200
        counts.append(query_counter.count)
    assert counts[0] == counts[1]
