"""PDF bombs are rendered in a bounded child process (issue 16 item 1).

The bomb is the one the hostile probe found: 9 levels x 10 references of nested form XObjects,
about 4 KB. Unbounded, PDFium took 87 s and 19.9 GB for its thumbnail. Here every test must end
within :data:`GENEROUS_SECONDS` (a bound that proves "does not hang", not a timing); the renders
use a 3 s deadline and 512 MiB.
"""

from __future__ import annotations

import io
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from core.cas import render_sandbox
from core.cas.render_sandbox import RUNNING, RenderLimitExceeded, RenderLimits
from core.cas.spool import IngestSpool
from core.cas.thumbnails import generic_pdf_thumbnail, thumbnail_key, unrenderable_marker_key
from core.cas.validate import validate_content
from core.errors import UnprocessableContent
from core.state import get_state
from tests.cas.conftest import pdf, put_blob
from tests.cas.pdf_bombs import nested_forms_pdf

GENEROUS_SECONDS = 20.0
LIMITS = {"render_timeout": 3.0, "render_max_memory": 512 * 1024 * 1024}
TEST_LIMITS = RenderLimits(timeout=3.0, max_memory=512 * 1024 * 1024)
MIB = 1024 * 1024


def peak_rss_bytes() -> int:
    """Peak resident size of this (the server's) process so far; children are not counted."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture
def bomb_app(make_cas_app: Callable[..., Flask]) -> Flask:
    return make_cas_app(**LIMITS)


def test_a_pdf_bomb_thumbnail_is_the_generic_preview_within_bounds(bomb_app: Flask) -> None:
    bomb = put_blob(bomb_app, nested_forms_pdf(levels=9, fanout=10))
    rss_before = peak_rss_bytes()
    started = time.monotonic()
    response = bomb_app.test_client().get(f"/api/cas/{bomb.sha256}?thumbnail=200")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.data == generic_pdf_thumbnail(200)
    assert elapsed < GENEROUS_SECONDS
    assert peak_rss_bytes() - rss_before < 100 * MIB  # PDFium never ran in this process


def test_a_pdf_bomb_is_remembered_and_never_rendered_again(
    bomb_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = put_blob(bomb_app, nested_forms_pdf())
    client = bomb_app.test_client()
    assert client.get(f"/api/cas/{bomb.sha256}?thumbnail=200").status_code == 200
    storage = get_state(bomb_app).storage
    assert storage.stat(unrenderable_marker_key(bomb.sha256)) is not None

    def no_render(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bomb was rendered again")

    monkeypatch.setattr(render_sandbox, "_run_child", no_render)
    other_size = client.get(f"/api/cas/{bomb.sha256}?thumbnail=120")
    assert other_size.status_code == 200
    assert other_size.data == generic_pdf_thumbnail(120)
    assert storage.stat(thumbnail_key(bomb.sha256, 120)) is not None


def test_a_normal_pdf_renders_while_a_bomb_is_being_processed(bomb_app: Flask) -> None:
    bomb = put_blob(bomb_app, nested_forms_pdf())
    normal = put_blob(bomb_app, pdf(300, 200, "blue"))
    finished: dict[str, float] = {}

    def request_bomb() -> None:
        bomb_app.test_client().get(f"/api/cas/{bomb.sha256}?thumbnail=200")
        finished["bomb"] = time.monotonic()

    bomb_thread = threading.Thread(target=request_bomb)
    bomb_thread.start()
    try:
        with RUNNING.changed:
            assert RUNNING.changed.wait_for(lambda: RUNNING.count >= 1, timeout=GENEROUS_SECONDS)
        response = bomb_app.test_client().get(f"/api/cas/{normal.sha256}?thumbnail=150")
        finished["normal"] = time.monotonic()
    finally:
        bomb_thread.join(GENEROUS_SECONDS)
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (150, 100)
    assert image.convert("RGB").getpixel((75, 50))[2] > 200  # really rendered: blue
    assert finished["normal"] < finished["bomb"]


def test_upload_validation_refuses_a_pdf_bomb_within_bounds() -> None:
    with IngestSpool(lambda _type: 10**9) as spool:
        spool.write(nested_forms_pdf())
        spool.finish()
        started = time.monotonic()
        with pytest.raises(UnprocessableContent) as raised:
            validate_content(spool, 50_000_000, TEST_LIMITS)
    assert raised.value.code == "PDF_TOO_COMPLEX"
    assert time.monotonic() - started < GENEROUS_SECONDS


def test_upload_validation_accepts_a_normal_pdf() -> None:
    with IngestSpool(lambda _type: 10**9) as spool:
        spool.write(pdf())
        spool.finish()
        validate_content(spool, 50_000_000, TEST_LIMITS)


def test_the_time_limit_ends_a_render() -> None:
    limits = RenderLimits(timeout=1.0, max_memory=8 * 1024 * MIB)  # memory is not what stops it
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded) as raised:
        render_sandbox.render_pdf_thumbnail(io.BytesIO(nested_forms_pdf(levels=7)), 100, limits)
    assert raised.value.reason == "timeout"
    assert time.monotonic() - started < GENEROUS_SECONDS


def test_the_memory_limit_ends_a_render() -> None:
    limits = RenderLimits(timeout=60.0, max_memory=300 * MIB)
    with pytest.raises(RenderLimitExceeded) as raised:
        render_sandbox.render_pdf_thumbnail(io.BytesIO(nested_forms_pdf()), 100, limits)
    assert raised.value.reason == "memory"


def test_a_broken_pdf_is_still_unreadable_not_a_bomb(bomb_app: Flask) -> None:
    broken = put_blob(bomb_app, b"%PDF-1.7\n" + b"not a pdf\n" * 20)
    response = bomb_app.test_client().get(f"/api/cas/{broken.sha256}?thumbnail=100")
    assert response.status_code == 422
    assert response.json["code"] == "IMAGE_UNREADABLE"
    storage = get_state(bomb_app).storage
    assert storage.stat(unrenderable_marker_key(broken.sha256)) is None


def test_the_generic_preview_has_the_asked_height() -> None:
    for size in (1, 37, 300, 1000):
        image = Image.open(io.BytesIO(generic_pdf_thumbnail(size)))
        assert image.format == "JPEG" and image.height == size and image.width <= size
