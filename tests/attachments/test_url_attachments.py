"""URL attachments through the API, against a local HTTP server allow-listed for the tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.attachments.conftest import make_pdf, make_png
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


def _page(head: str) -> bytes:
    return f"<!doctype html><html><head>{head}</head><body>hi</body></html>".encode()


def _add(client, set_id: int, url: str, title: str | None = None):
    body = {"url": url} if title is None else {"url": url, "title": title}
    return client.post(f"/api/attachment-sets/{set_id}/attachments", json=body)


def test_page_with_og_image_becomes_link_with_stored_preview(client, set_id, web) -> None:
    web.route("/og.png", make_png(80, 40), content_type="image/png")
    url = web.route(
        "/page",
        _page('<title>LM317 datasheet</title><meta property="og:image" content="/og.png">'),
        content_type="text/html",
    )
    response = _add(client, set_id, url)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["attachment_type"] == "url"
    assert body["title"] == "LM317 datasheet"
    assert body["url"] == url
    assert body["attachment_url"] is None
    assert body["preview_url"].startswith("/api/cas/")
    preview = client.get(body["preview_url"])
    assert preview.status_code == 200
    assert Image.open(io.BytesIO(preview.data)).size == (80, 40)


def test_callers_title_wins(client, set_id, web) -> None:
    url = web.route("/t", _page("<title>Detected</title>"), content_type="text/html")
    assert _add(client, set_id, url, title="Mine").json["title"] == "Mine"


def test_twitter_image_fallback_and_1x1_skipped(client, set_id, web) -> None:
    web.route("/pixel.png", make_png(1, 1), content_type="image/png")
    web.route("/tw.png", make_png(30, 30), content_type="image/png")
    url = web.route(
        "/p",
        _page(
            '<meta property="og:image" content="/pixel.png">'
            '<meta name="twitter:image" content="/tw.png">'
        ),
        content_type="text/html",
    )
    body = _add(client, set_id, url).json
    image = Image.open(io.BytesIO(client.get(body["preview_url"]).data))
    assert image.size == (30, 30)


def test_icon_fallback(client, set_id, web) -> None:
    web.route("/icon.png", make_png(16, 16), content_type="image/png")
    url = web.route("/p", _page('<link rel="icon" href="icon.png">'), content_type="text/html")
    body = _add(client, set_id, url).json
    assert body["preview_url"] is not None


def test_direct_image_is_stored_and_becomes_cover(client, set_id, web) -> None:
    url = web.route("/photo.png", make_png(20, 10), content_type="application/octet-stream")
    body = _add(client, set_id, url).json
    assert body["attachment_type"] == "image"
    assert body["content_type"] == "image/png"
    assert body["attachment_url"].startswith("/api/cas/")
    cover = client.get(f"/api/attachment-sets/{set_id}/cover").json
    assert cover["cover_attachment_id"] == body["id"]


def test_direct_pdf_is_stored(client, set_id, web) -> None:
    url = web.route("/ds.pdf", make_pdf(), content_type="application/pdf")
    body = _add(client, set_id, url).json
    assert body["attachment_type"] == "pdf"
    assert body["file_size"] == len(make_pdf())


def test_zip_is_415_naming_the_type(client, set_id, web) -> None:
    url = web.route("/a.zip", b"PK\x03\x04" + b"\x00" * 200, content_type="application/zip")
    response = _add(client, set_id, url)
    assert response.status_code == 415
    assert "application/zip" in response.json["error"]
    assert client.get(f"/api/attachment-sets/{set_id}/attachments").json == []


def test_redirect_to_blocked_address_is_refused(client, set_id, web) -> None:
    url = web.redirect("/go", "http://169.254.169.254/latest/meta-data/")
    response = _add(client, set_id, url)
    assert response.status_code == 400
    assert response.json["code"] == "URL_BLOCKED"


def test_loopback_without_allow_list_is_refused(app, set_id, web) -> None:
    from core.app import create_app
    from core.state import get_state

    settings = get_state(app).settings
    strict = create_app(
        {"database_url": settings.database_url, "storage_url": settings.storage_url}
    )
    response = _add(strict.test_client(), set_id, web.route("/x", _page("")))
    assert response.status_code == 400
    assert response.json["code"] == "URL_BLOCKED"


def test_oversized_body_is_413(app, client, set_id, web) -> None:
    from core.state import get_state

    limit = get_state(app).settings.max_image_bytes
    url = web.route("/big.png", make_png() + b"\x00" * (limit + 10), content_type="image/png")
    assert _add(client, set_id, url).status_code == 413


def test_slow_server_times_out_with_422(client, set_id, web) -> None:
    url = web.route("/slow", _page(""), content_type="text/html", delay=3.0)
    response = _add(client, set_id, url)
    assert response.status_code == 422
    assert response.json["code"] == "URL_TIMEOUT"


def test_http_error_is_422_with_status(client, set_id, web) -> None:
    url = web.route("/missing", b"nope", status=404)
    response = _add(client, set_id, url)
    assert response.status_code == 422
    assert response.json["details"]["status"] == 404


def test_non_http_scheme_is_400(client, set_id) -> None:
    assert _add(client, set_id, "file:///etc/passwd").status_code == 400


def test_preview_endpoint_creates_nothing(client, set_id, web) -> None:
    web.route("/og.png", make_png(50, 50), content_type="image/png")
    url = web.route(
        "/p",
        _page('<title>Thing</title><meta property="og:image" content="/og.png">'),
        content_type="text/html",
    )
    response = client.post("/api/attachment-preview", json={"url": url})
    assert response.status_code == 200
    assert response.json == {
        "title": "Thing",
        "image_url": web.url("/og.png"),
        "original_url": url,
        "content_type": "webpage",
    }
    assert client.get(f"/api/attachment-sets/{set_id}/attachments").json == []
