"""Fetched bytes go through the upload pipeline's content validation (issue 16 item 4).

The hostile probe attached, by URL, a 20000x20000 PNG bomb (it became the cover), a PNG+HTML
polyglot, a truncated PNG and a fake PDF, and got a polyglot ``og:image`` stored as a preview.
Now a file URL that an upload would refuse is refused with the upload's 422 and nothing is
stored; a preview candidate that fails is skipped: the page is attached without a preview.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from core.config import Settings
from core.errors import UnprocessableContent
from core.urlfetch import analyze_url, preview_url
from storage_drivers.local import LocalDriver
from tests.cas.conftest import png_header_claiming
from tests.urlfetch.samples import page, png
from tests.urlfetch.server import LocalHttpServer

POLYGLOT_PNG = png(64, 48) + b"<html><body><script>alert(document.domain)</script></body></html>"
TRUNCATED_PNG = png(200, 150)[:120]
FAKE_PDF = b"%PDF-1.7\n" + b"this is not a pdf at all\n" * 20

PNG_BOMB = png_header_claiming(20000, 20000)

BAD_FILES = {
    "20000x20000 PNG bomb": (PNG_BOMB, "image/png", "IMAGE_TOO_MANY_PIXELS"),
    "PNG+HTML polyglot": (POLYGLOT_PNG, "image/png", "POLYGLOT_CONTENT"),
    "truncated PNG": (TRUNCATED_PNG, "image/png", "CORRUPT_IMAGE"),
    "fake PDF": (FAKE_PDF, "application/pdf", "CORRUPT_PDF"),
}


def stored_keys(storage: LocalDriver) -> list[str]:
    return [stat.key for stat in storage.iter_keys("")]


@pytest.mark.parametrize(("body", "declared", "code"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_file_an_upload_would_refuse_is_refused_and_not_stored(
    server: LocalHttpServer,
    settings: Settings,
    storage: LocalDriver,
    body: bytes,
    declared: str,
    code: str,
) -> None:
    url = server.route("/file", body, content_type=declared)
    with pytest.raises(UnprocessableContent) as raised:
        analyze_url(url, settings, storage)
    assert raised.value.status == 422
    assert raised.value.code == code
    assert stored_keys(storage) == []


@pytest.mark.parametrize(
    "candidate",
    [POLYGLOT_PNG, TRUNCATED_PNG, PNG_BOMB],
    ids=["polyglot", "truncated", "bomb"],
)
def test_an_og_image_that_fails_validation_is_no_preview(
    server: LocalHttpServer, settings: Settings, storage: LocalDriver, candidate: bytes
) -> None:
    server.route("/og.png", candidate, content_type="image/png")
    server.route("/favicon.ico", b"", status=404)
    url = server.route(
        "/page", page("Part", head='<meta property="og:image" content="/og.png">'),
        content_type="text/html",
    )  # fmt: skip
    analysis = analyze_url(url, settings, storage)
    assert analysis.kind == "url" and analysis.title == "Part"
    assert analysis.preview_blob is None
    assert stored_keys(storage) == []


def test_a_sound_og_image_is_still_the_preview(
    server: LocalHttpServer, settings: Settings, storage: LocalDriver
) -> None:
    server.route("/og.png", png(64, 48), content_type="image/png")
    url = server.route(
        "/page", page("Part", head='<meta property="og:image" content="/og.png">'),
        content_type="text/html",
    )  # fmt: skip
    analysis = analyze_url(url, settings, storage)
    assert analysis.preview_blob is not None
    assert stored_keys(storage) == [analysis.preview_blob.key]


def test_the_preview_endpoint_skips_a_polyglot_og_image(
    server: LocalHttpServer, settings: Settings
) -> None:
    server.route("/og.png", POLYGLOT_PNG, content_type="image/png")
    server.route("/favicon.ico", b"", status=404)
    url = server.route(
        "/page", page("Part", head='<meta property="og:image" content="/og.png">'),
        content_type="text/html",
    )  # fmt: skip
    assert preview_url(url, settings).image_url is None


# --- through the API: a clear 4xx and no row ------------------------------------------------


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "url_fetch_allow": "127.0.0.1/32",
        "url_fetch_timeout": 1.0,
    }


def test_a_pixel_bomb_url_attachment_is_422_and_leaves_no_row(
    app: Flask, server: LocalHttpServer
) -> None:
    from core.attachments.models import Attachment, AttachmentSet
    from core.state import get_state

    url = server.route("/bomb.png", PNG_BOMB, content_type="image/png")
    with app.app_context():
        set_id = AttachmentSet.create().id
    response = app.test_client().post(
        f"/api/attachment-sets/{set_id}/attachments", json={"url": url}
    )
    assert response.status_code == 422
    assert response.json["code"] == "IMAGE_TOO_MANY_PIXELS"
    assert set(response.json) >= {"error", "details", "code"}
    with app.app_context():
        assert Attachment.select().count() == 0
        assert AttachmentSet.get_by_id(set_id).cover_attachment_id is None
    assert list(get_state(app).storage.iter_keys("cas/")) == []
