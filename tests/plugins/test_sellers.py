"""The sellers plugin: sellers, logos stored as their set's cover, seller links (both databases)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.plugin_api import get_state
from tests.plugins.conftest import make_png


@pytest.fixture
def new_seller(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    def _new(name: str = "DigiKey", website: str = "https://www.digikey.com") -> dict[str, Any]:
        response = client.post("/api/sellers", json={"name": name, "website": website})
        assert response.status_code == 201, response.json
        return response.json

    return _new


def put_logo(client: FlaskClient, seller_id: int, data: bytes, filename: str = "logo.png"):
    return client.put(
        f"/api/sellers/{seller_id}/logo",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def link(client: FlaskClient, key: str, seller_id: Any, url: str = "https://shop.example/p/1"):
    return client.post(f"/api/parts/{key}/seller-links", json={"seller_id": seller_id, "link": url})


def test_create_list_and_get(client, new_seller) -> None:
    mouser = new_seller("Mouser", "https://www.mouser.com")
    digikey = new_seller("digikey", "https://www.digikey.com")
    listed = client.get("/api/sellers").json
    assert [s["name"] for s in listed] == ["digikey", "Mouser"]
    got = client.get(f"/api/sellers/{mouser['id']}").json
    assert got["website"] == "https://www.mouser.com"
    assert {"id", "name", "website", "logo_url", "created_at", "updated_at"} <= set(got)
    assert digikey["logo_url"] == f"/api/sellers/{digikey['id']}/initial-logo.svg"


def test_names_are_unique_ignoring_case(client, new_seller) -> None:
    new_seller("LCSC")
    response = client.post("/api/sellers", json={"name": "lcsc", "website": "https://lcsc.com"})
    assert response.status_code == 409 and response.json["code"] == "SELLER_NAME_TAKEN"


@pytest.mark.parametrize(
    "website",
    ["javascript:alert(1)", "ftp://x.example", "https://", "not a url", "http://a b.example"],
)
def test_websites_must_be_http_urls(client, website) -> None:
    response = client.post("/api/sellers", json={"name": "Shop", "website": website})
    assert response.status_code == 400
    assert "website" in response.json["details"]["fields"]


def test_update_changes_only_what_is_sent(client, new_seller) -> None:
    seller = new_seller()
    changed = client.put(f"/api/sellers/{seller['id']}", json={"website": "https://digikey.de"})
    assert changed.status_code == 200
    assert changed.json["name"] == "DigiKey" and changed.json["website"] == "https://digikey.de"


def test_a_logo_is_stored_as_the_cover_of_the_sellers_set(client, new_seller) -> None:
    seller = new_seller()
    response = put_logo(client, seller["id"], make_png("blue"))
    assert response.status_code == 200, response.json
    logo_url = response.json["logo_url"]
    assert logo_url.startswith("/api/cas/")
    attachment_set = client.get(f"/api/attachment-sets/{seller['attachment_set_id']}").json
    assert attachment_set["cover_url"] == logo_url
    assert attachment_set["owner"]["type"] == "seller"
    assert client.get(logo_url).status_code == 200


def test_replacing_a_logo_keeps_one_attachment(client, new_seller) -> None:
    seller = new_seller()
    put_logo(client, seller["id"], make_png("blue"))
    second = put_logo(client, seller["id"], make_png("green")).json["logo_url"]
    attachment_set = client.get(f"/api/attachment-sets/{seller['attachment_set_id']}").json
    assert len(attachment_set["attachments"]) == 1
    assert attachment_set["cover_url"] == second


def test_deleting_the_logo_falls_back_to_the_letter_badge(client, new_seller) -> None:
    seller = new_seller()
    put_logo(client, seller["id"], make_png("blue"))
    response = client.delete(f"/api/sellers/{seller['id']}/logo")
    assert response.status_code == 200
    assert response.json["logo_url"].endswith("/initial-logo.svg")
    badge = client.get(response.json["logo_url"])
    assert badge.mimetype == "image/svg+xml" and b">D</text>" in badge.data
    assert "default-src 'none'" in badge.headers["Content-Security-Policy"]


def test_a_logo_that_is_not_an_image_is_refused(client, new_seller) -> None:
    seller = new_seller()
    pdf = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (10, 10)).save(pdf, "PDF")
    assert put_logo(client, seller["id"], pdf.getvalue(), "logo.pdf").status_code == 415
    assert put_logo(client, seller["id"], b"\x89PNG\r\n\x1a\n" + b"0" * 100).status_code == 422
    assert client.get(f"/api/sellers/{seller['id']}").json["logo_url"].endswith(".svg")


def test_a_logo_over_the_image_limit_is_413(app: Flask, client, new_seller) -> None:
    seller = new_seller()
    limit = get_state(app).settings.max_image_bytes
    big = make_png("red") + b"\0" * (limit + 1)
    assert put_logo(client, seller["id"], big).status_code == 413


def test_seller_links_on_a_part(app, client, new_seller, new_part) -> None:
    seller = new_seller()
    part = new_part()
    created = link(client, part["key"], seller["id"], "https://www.digikey.com/p/123")
    assert created.status_code == 201, created.json
    assert created.json["seller_name"] == "DigiKey" and created.json["link"].endswith("/123")
    assert link(client, part["key"], seller["id"]).status_code == 409
    with app.app_context():
        from plugins.parts.service import get_part

        part_id = get_part(part["key"]).id
        answers = get_state().plugin_manager.hook.part_seller_links(part_ids=[part_id])
    assert [item for answer in answers for item in (answer or {}).get(part_id, [])] == [
        created.json
    ]
    link_url = f"/api/parts/{part['key']}/seller-links/{created.json['id']}"
    assert client.delete(link_url).status_code == 204
    assert client.delete(link_url).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"seller_id": "1", "link": "https://x.example"},
        {"seller_id": True, "link": "https://x.example"},
        {"seller_id": 1, "link": "javascript:alert(1)"},
    ],
)
def test_bad_seller_links_are_400(client, new_seller, new_part, body) -> None:
    new_seller()
    response = client.post(f"/api/parts/{new_part()['key']}/seller-links", json=body)
    assert response.status_code == 400


def test_a_link_to_an_unknown_seller_is_404(client, new_part) -> None:
    assert link(client, new_part()["key"], 999).status_code == 404


def test_a_seller_with_links_cannot_be_deleted(client, new_seller, new_part) -> None:
    seller = new_seller()
    part = new_part()
    created = link(client, part["key"], seller["id"]).json
    refused = client.delete(f"/api/sellers/{seller['id']}")
    assert refused.status_code == 409 and refused.json["code"] == "SELLER_IN_USE"
    client.delete(f"/api/parts/{part['key']}/seller-links/{created['id']}")
    assert client.delete(f"/api/sellers/{seller['id']}").status_code == 204
    assert client.get(f"/api/attachment-sets/{seller['attachment_set_id']}").status_code == 404


def test_deleting_a_part_deletes_its_seller_links(client, new_seller, new_part) -> None:
    seller = new_seller()
    part = new_part()
    link(client, part["key"], seller["id"])
    assert client.delete(f"/api/parts/{part['key']}").status_code == 204
    assert client.delete(f"/api/sellers/{seller['id']}").status_code == 204
