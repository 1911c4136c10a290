"""The control-character rule on every text field, on SQLite and PostgreSQL (``client``).

Single-line text refuses U+0000-U+001F and U+007F; multi-line text allows tab, LF and CR. A
refusal is a 400 ``VALIDATION_ERROR`` naming the field; nothing reaches the database (where
PostgreSQL would answer U+0000 with a 500).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.urlfetch.server import LocalHttpServer


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "url_fetch_allow": "127.0.0.1/32",
        "url_fetch_timeout": 1.0,
    }


@pytest.fixture
def web() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as server:
        yield server


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "PNG")
    return out.getvalue()


def _refused(response, field: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.json
    assert body["code"] == "VALIDATION_ERROR"
    assert field in body["details"]["fields"], body


@pytest.fixture
def part(client) -> dict:
    response = client.post("/api/parts", json={"description": "resistor"})
    assert response.status_code == 201
    return response.json


@pytest.mark.parametrize(
    "field", ["manufacturer", "manufacturer_code", "package", "series", "product_page"]
)
def test_nul_in_a_single_line_part_field_is_refused_naming_it(client, field):
    _refused(client.post("/api/parts", json={"description": "d", field: "a\x00b"}), field)


def test_nul_in_a_part_description_is_refused(client):
    _refused(client.post("/api/parts", json={"description": "a\x00b"}), "description")


def test_nul_in_a_part_update_is_refused(client, part):
    response = client.put(f"/api/parts/{part['key']}", json={"manufacturer": "\x00"})
    _refused(response, "manufacturer")


def test_nul_in_a_tag_is_refused(client):
    _refused(client.post("/api/parts", json={"description": "d", "tags": ["a\x00"]}), "tags.0")


def test_newline_is_refused_in_single_line_text(client):
    _refused(client.post("/api/parts", json={"description": "d", "series": "a\nb"}), "series")


def test_tab_and_newlines_are_kept_in_multi_line_text(client):
    response = client.post("/api/parts", json={"description": "line 1\r\n\tline 2"})
    assert response.status_code == 201
    assert response.json["description"] == "line 1\r\n\tline 2"


@pytest.mark.parametrize("char", ["\x01", "\x0b", "\x1b", "\x7f"])
def test_other_controls_are_refused_in_multi_line_text(client, char):
    _refused(client.post("/api/parts", json={"description": f"a{char}b"}), "description")


def test_nul_in_a_type_name_is_refused(client):
    _refused(client.post("/api/types", json={"name": "IC\x00"}), "name")


def test_nul_in_a_kit_name_is_refused(client):
    _refused(client.post("/api/kits", json={"name": "kit\x00"}), "name")


def test_nul_in_a_kit_note_is_refused(client, part):
    kit = client.post("/api/kits", json={"name": "k"}).json
    response = client.post(f"/api/kits/{kit['id']}/contents", json={"part_id": 1, "note": "\x00"})
    _refused(response, "note")


def test_nul_in_a_kit_query_is_refused(client):
    _refused(client.get("/api/kits?query=a%00b"), "query")


def test_whitespace_only_kit_name_is_refused_as_blank(client):
    response = client.post("/api/kits", json={"name": " \u2003 "})
    _refused(response, "name")


def test_nul_in_an_attachment_title_is_refused(client, part):
    url = f"/api/attachment-sets/{part['attachment_set_id']}/attachments"
    response = client.post(
        url,
        data={"file": (io.BytesIO(_png()), "a.png"), "title": "a\x00b"},
        content_type="multipart/form-data",
    )
    _refused(response, "title")


def test_nul_in_an_uploaded_file_name_is_refused(client, part):
    url = f"/api/attachment-sets/{part['attachment_set_id']}/attachments"
    response = client.post(
        url,
        data={"file": (io.BytesIO(_png()), "a\x00.png"), "title": "t"},
        content_type="multipart/form-data",
    )
    _refused(response, "file.filename")


def test_nul_in_a_renamed_attachment_title_is_refused(client, part):
    url = f"/api/attachment-sets/{part['attachment_set_id']}/attachments"
    created = client.post(
        url,
        data={"file": (io.BytesIO(_png()), "a.png"), "title": "t"},
        content_type="multipart/form-data",
    ).json
    _refused(client.put(f"{url}/{created['id']}", json={"title": "x\x00"}), "title")


def test_nul_in_a_url_attachment_title_is_refused(client, part):
    url = f"/api/attachment-sets/{part['attachment_set_id']}/attachments"
    response = client.post(url, json={"title": "x\x00", "url": "http://127.0.0.1:9/"})
    _refused(response, "title")


_DIRTY_PAGE = b"<html><head><title>LM\x00317\x1b[31m data\x7fsheet</title></head></html>"


def test_a_fetched_page_title_is_stored_without_control_characters(client, part, web):
    page = web.route("/page", _DIRTY_PAGE, content_type="text/html")
    url = f"/api/attachment-sets/{part['attachment_set_id']}/attachments"
    response = client.post(url, json={"url": page})
    assert response.status_code == 201, response.json
    assert response.json["title"] == "LM 317 [31m data sheet"
    listed = client.get(url).json
    assert [a["title"] for a in listed] == ["LM 317 [31m data sheet"]


def test_a_previewed_page_title_has_no_control_characters(client, web):
    page = web.route("/page", _DIRTY_PAGE, content_type="text/html")
    response = client.post("/api/attachment-preview", json={"url": page})
    assert response.status_code == 200, response.json
    assert response.json["title"] == "LM 317 [31m data sheet"
