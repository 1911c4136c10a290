"""The parts calls EI's web UI makes, in the shapes of its contract (../shared/ei-ui/openapi.json):
every ``include`` token, part ids and totals, kit reservations, locations, one type, the PDF
icon, and remote content shown through the SSRF-safe fetcher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.plugins import hookimpl
from tests.urlfetch import samples
from tests.urlfetch.server import LocalHttpServer

UI_INCLUDE = "locations,kits,shopping_lists,cover"


class InventoryPlugin:
    """A stand-in inventory plugin: ``places[part_id]`` lists where the part is stored."""

    def __init__(self) -> None:
        self.places: dict[int, list[dict[str, Any]]] = {}

    @hookimpl
    def part_locations(self, part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        return {pid: self.places[pid] for pid in part_ids if pid in self.places}


class ShoppingPlugin:
    """A stand-in shopping-list plugin: ``lines[part_id]`` lists the part's memberships."""

    def __init__(self) -> None:
        self.lines: dict[int, list[dict[str, Any]]] = {}

    @hookimpl
    def part_shopping_lists(self, part_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        return {pid: self.lines[pid] for pid in part_ids if pid in self.lines}


@pytest.fixture
def inventory() -> InventoryPlugin:
    return InventoryPlugin()


@pytest.fixture
def shopping() -> ShoppingPlugin:
    return ShoppingPlugin()


@pytest.fixture
def app_plugins(stock, events, inventory, shopping) -> list[object]:
    return [stock, events, inventory, shopping]


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "url_fetch_allow": "127.0.0.1/32",
        "url_fetch_timeout": 2.0,
    }


@pytest.fixture
def web() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as server:
        yield server


def _items(client, query: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/parts?{query}")
    assert response.status_code == 200, response.json
    return {item["key"]: item for item in response.json}


def test_the_uis_include_list_returns_every_key_empty_without_plugins_data(
    client, new_part
) -> None:
    part = new_part(description="Relay")
    item = _items(client, f"limit=1000&offset=0&include={UI_INCLUDE}")[part["key"]]
    assert item["locations"] == [] and item["kits"] == [] and item["shopping_lists"] == []
    assert item["seller_links"] == []
    assert item["cover_url"] is None


def test_list_and_detail_expose_the_integer_id_and_total_quantity(
    client, new_part, in_app, stock
) -> None:
    part = new_part(description="Relay")
    with in_app():
        from plugins.parts.models import Part

        part_id = Part.get(Part.key == part["key"]).id
    stock.levels[part_id] = 12
    assert part["id"] == part_id
    detail = client.get(f"/api/parts/{part['key']}").json
    assert (detail["id"], detail["total_quantity"]) == (part_id, 12)
    item = _items(client, "limit=10")[part["key"]]
    assert (item["id"], item["total_quantity"]) == (part_id, 12)


def test_locations_and_shopping_lists_come_from_the_parts_hooks(
    client, new_part, inventory, shopping
) -> None:
    part = new_part(description="Relay")
    inventory.places[part["id"]] = [
        {"box_no": 7, "loc_no": 3, "qty": 25},
        {"box_no": 2, "loc_no": 9, "qty": 5},
    ]
    membership = {
        "shopping_list_id": 5, "shopping_list_name": "Q1", "shopping_list_status": "active",
        "line_id": 123, "line_status": "new", "needed": 50, "ordered": 0, "received": 0,
        "note": None, "seller": None,
    }
    shopping.lines[part["id"]] = [membership]
    item = _items(client, f"include={UI_INCLUDE}")[part["key"]]
    assert item["locations"] == [
        {"box_no": 2, "loc_no": 9, "qty": 5},
        {"box_no": 7, "loc_no": 3, "qty": 25},
    ]
    assert item["shopping_lists"] == [membership]
    located = client.get(f"/api/parts/{part['key']}/locations")
    assert located.status_code == 200
    assert located.json == [
        {"key": part["key"], "box_no": 2, "loc_no": 9, "qty": 5},
        {"key": part["key"], "box_no": 7, "loc_no": 3, "qty": 25},
    ]


def test_locations_of_a_part_nothing_stores_is_an_empty_list(client, new_part) -> None:
    part = new_part(description="Relay")
    response = client.get(f"/api/parts/{part['key']}/locations")
    assert (response.status_code, response.json) == (200, [])


def test_locations_of_an_unknown_part_is_404(client) -> None:
    assert client.get("/api/parts/ZZZZ/locations").status_code == 404


def test_kit_reservations_sum_the_active_kits_only(client, new_part, new_kit) -> None:
    part = new_part(description="Relay")
    live = new_kit("Live", build_target=3)
    gone = new_kit("Gone", build_target=5)
    for kit, per_unit in ((live, 2), (gone, 1)):
        added = client.post(
            f"/api/kits/{kit['id']}/contents",
            json={"part_id": part["id"], "required_per_unit": per_unit},
        )
        assert added.status_code == 201, added.json
    assert client.post(f"/api/kits/{gone['id']}/archive").status_code == 200
    body = client.get(f"/api/parts/{part['key']}/kit-reservations").json
    assert body["part_id"] == part["id"] and body["part_key"] == part["key"]
    assert body["part_description"] == "Relay"
    assert body["total_reserved"] == 6
    assert [r["kit_name"] for r in body["active_reservations"]] == ["Live"]
    assert body["active_reservations"][0]["reserved_quantity"] == 6
    detail = client.get(f"/api/parts/{part['key']}").json
    assert detail["used_in_kits"] is True


def test_kit_reservations_of_an_unknown_part_is_404(client) -> None:
    assert client.get("/api/parts/ZZZZ/kit-reservations").status_code == 404


def test_one_type_by_id_and_404_for_an_unknown_one(client) -> None:
    created = client.post("/api/types", json={"name": "Zener Test Type"}).json
    one = client.get(f"/api/types/{created['id']}")
    assert one.status_code == 200
    assert one.json == created
    missing = client.get("/api/types/999999")
    assert missing.status_code == 404 and missing.json["code"] == "NOT_FOUND"


def test_pdf_icon_is_an_immutable_svg(client) -> None:
    response = client.get("/api/icons/pdf?version=abc")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg")
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get("/api/icons/pdf", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_proxy_serves_a_remote_pdf_with_safe_headers(client, web) -> None:
    url = web.route("/sheet.pdf", samples.pdf(), content_type="application/octet-stream")
    response = client.get("/api/parts/attachment-proxy/content", query_string={"url": url})
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data == samples.pdf()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline")


def test_proxy_never_passes_on_html(client, web) -> None:
    url = web.route("/page", samples.page(), content_type="text/html")
    response = client.get("/api/parts/attachment-proxy/content", query_string={"url": url})
    assert response.status_code == 415
    assert response.json["details"]["detected_type"] == "text/html"


def test_proxy_refuses_private_addresses_not_allow_listed(client) -> None:
    response = client.get(
        "/api/parts/attachment-proxy/content", query_string={"url": "http://10.1.2.3/x.pdf"}
    )
    assert response.status_code == 400
    assert response.json["code"] == "URL_BLOCKED"


def test_preview_image_of_a_page_is_its_og_image(client, web) -> None:
    image = samples.png(40, 30)
    web.route("/og.png", image, content_type="image/png")
    head = f'<meta property="og:image" content="{web.url("/og.png")}">'
    url = web.route("/page", samples.page(head=head), content_type="text/html")
    response = client.get("/api/parts/attachment-preview/image", query_string={"url": url})
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == image


def test_preview_image_of_a_page_without_one_is_404(client, web) -> None:
    url = web.route("/page", samples.page(), content_type="text/html")
    response = client.get("/api/parts/attachment-preview/image", query_string={"url": url})
    assert response.status_code == 404


def test_proxy_needs_a_url(client) -> None:
    response = client.get("/api/parts/attachment-proxy/content")
    assert response.status_code == 400
    assert "url" in response.json["details"]["fields"]
