"""analyze_url / preview_url (core.urlfetch.analyze) against a local server."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from core.config import Settings
from core.urlfetch.analyze import (
    PAGE_MAX_BYTES,
    TITLE_MAX_CHARS,
    analyze_url,
    fit_title,
    preview_url,
    title_from_url,
)
from core.urlfetch.client import UrlHttpError, UrlTooLarge, UrlUnsupportedType
from core.urlfetch.policy import UrlBlocked
from storage_drivers.base import StorageDriver
from tests.urlfetch import samples
from tests.urlfetch.server import LocalHttpServer, pattern_body


def stored_bytes(storage: StorageDriver, key: str) -> bytes:
    return b"".join(storage.open(key))


def og_page(image: str, title: str = "Product") -> bytes:
    return samples.page(title, f'<meta property="og:image" content="{image}">')


# --- web pages ----------------------------------------------------------------------------------


def test_a_page_with_og_image_stores_that_image_as_preview(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    image = samples.png(64, 48)
    server.route("/img/photo.png", image, content_type="image/png")
    url = server.route(
        "/product", og_page("/img/photo.png", "NE555 timer"), content_type="text/html"
    )

    result = analyze_url(url, settings, storage)

    assert (result.kind, result.title, result.final_url) == ("url", "NE555 timer", url)
    assert result.blob is None
    assert result.content_type == "text/html"
    assert result.preview_blob is not None
    assert result.preview_blob.content_type == "image/png"
    assert result.preview_blob.sha256 == hashlib.sha256(image).hexdigest()
    assert stored_bytes(storage, result.preview_blob.key) == image


def test_twitter_image_is_used_when_there_is_no_og_image(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    server.route("/tw.jpg", samples.jpeg(40, 30))
    head = '<meta name="twitter:image" content="/tw.jpg">'
    url = server.route("/p", samples.page("T", head), content_type="text/html")
    preview = analyze_url(url, settings, storage).preview_blob
    assert preview is not None and preview.content_type == "image/jpeg"


def test_the_page_icon_is_used_when_there_is_no_social_image(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    icon = samples.png(32, 32)
    server.route("/static/icon.png", icon)
    head = '<link rel="icon" href="static/icon.png">'
    url = server.route("/p", samples.page("T", head), content_type="text/html")
    preview = analyze_url(url, settings, storage).preview_blob
    assert preview is not None and preview.sha256 == hashlib.sha256(icon).hexdigest()


def test_favicon_ico_is_the_last_resort(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    favicon = samples.png(16, 16)  # a PNG served as favicon.ico, as many sites do
    server.route("/favicon.ico", favicon, content_type="image/x-icon")
    url = server.route("/deep/page", samples.page("T"), content_type="text/html")
    preview = analyze_url(url, settings, storage).preview_blob
    assert preview is not None and preview.sha256 == hashlib.sha256(favicon).hexdigest()


def test_a_real_ico_favicon_becomes_a_png_preview(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    ico = io.BytesIO()
    Image.new("RGB", (48, 48), (10, 120, 200)).save(ico, "ICO", sizes=[(16, 16), (48, 48)])
    server.route("/favicon.ico", ico.getvalue(), content_type="image/x-icon")
    url = server.route("/deep/page", samples.page("T"), content_type="text/html")
    preview = analyze_url(url, settings, storage).preview_blob
    assert preview is not None and preview.content_type == "image/png"
    stored = Image.open(io.BytesIO(b"".join(storage.open(preview.key))))
    assert stored.format == "PNG" and stored.size == (48, 48)


def test_a_1x1_pixel_is_skipped_for_the_next_candidate(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    real = samples.png(50, 50)
    server.route("/pixel.gif", samples.gif_1x1())
    server.route("/real.png", real)
    head = (
        '<meta property="og:image" content="/pixel.gif">'
        '<meta name="twitter:image" content="/real.png">'
    )
    url = server.route("/p", samples.page("T", head), content_type="text/html")
    preview = analyze_url(url, settings, storage).preview_blob
    assert preview is not None and preview.sha256 == hashlib.sha256(real).hexdigest()
    assert [stat.key for stat in storage.iter_keys("cas/")] == [preview.key]


def test_failing_candidates_are_skipped(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    server.route("/broken.png", b"not an image at all", content_type="image/png")
    server.route("/page.html", samples.page("not an image"), content_type="text/html")
    server.route("/drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    server.route("/good.png", samples.png(20, 20))
    head = "".join(
        f'<meta property="og:image" content="{src}">'
        for src in (
            "/missing.png",  # 404
            "http://10.0.0.1/internal.png",  # blocked
            "/broken.png",  # not an image
            "/page.html",
            "/drawing.svg",  # not a raster image
            "/good.png",
        )
    )
    url = server.route("/p", samples.page("T", head), content_type="text/html")
    preview = analyze_url(url, settings, storage).preview_blob
    assert preview is not None and preview.content_type == "image/png"


def test_no_working_candidate_means_no_preview(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    server.route("/pixel.gif", samples.gif_1x1())
    url = server.route("/p", og_page("/pixel.gif"), content_type="text/html")
    result = analyze_url(url, settings, storage)
    assert (result.kind, result.preview_blob) == ("url", None)
    assert list(storage.iter_keys()) == []


def test_a_preview_larger_than_the_image_limit_is_skipped(
    server: LocalHttpServer, make_settings: Any, storage: StorageDriver
) -> None:
    server.route("/big.png", samples.png(400, 400) + b"\0" * 20_000)
    url = server.route("/p", og_page("/big.png"), content_type="text/html")
    result = analyze_url(url, make_settings(max_image_bytes=10_000), storage)
    assert result.preview_blob is None


def test_a_page_without_a_title_is_named_after_its_url(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    url = server.route("/datasheets/ne555.html", samples.page(None), content_type="text/html")
    assert analyze_url(url, settings, storage).title == url
    assert preview_url(url, settings).title == url


def test_a_long_title_is_cut_to_255_characters(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    url = server.route("/p", samples.page("word " * 200), content_type="text/html")
    title = analyze_url(url, settings, storage).title
    assert len(title) == TITLE_MAX_CHARS and title.endswith("…")


def test_html_is_recognised_from_the_header_when_the_bytes_start_with_text(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    body = b"Welcome!\n<title>Odd page</title>"
    url = server.route("/odd", body, content_type="text/html; charset=utf-8")
    assert analyze_url(url, settings, storage).title == "Odd page"


def test_a_huge_page_is_read_only_up_to_its_head(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    head = b"<!DOCTYPE html><html><head><title>Big</title></head><body>"
    total = 20 * PAGE_MAX_BYTES

    def body() -> Iterator[bytes]:
        yield head
        yield from pattern_body(total)()

    url = server.route("/big", body, content_type="text/html", chunked=True)
    result = analyze_url(url, settings, storage)
    assert result.title == "Big"
    assert server.wait_done("/big").bytes_sent < total // 4


def test_the_final_url_is_the_one_after_redirects(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    target = server.route("/new", samples.page("Moved"), content_type="text/html")
    url = server.redirect("/old", "/new", status=301)
    result = analyze_url(url, settings, storage)
    assert (result.final_url, result.title) == (target, "Moved")


# --- files --------------------------------------------------------------------------------------


def test_an_image_is_detected_from_its_bytes_and_stored(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    image = samples.jpeg(120, 80)
    url = server.route("/files/my%20photo.jpg", image, content_type="text/plain")
    result = analyze_url(url, settings, storage)
    assert (result.kind, result.title, result.content_type) == (
        "image",
        "my photo.jpg",
        "image/jpeg",
    )
    assert result.blob is not None and result.preview_blob is None
    assert stored_bytes(storage, result.blob.key) == image


def test_an_image_url_without_a_file_name_is_named_after_its_host(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    url = server.route("/", samples.png(), content_type="image/png")
    assert analyze_url(url, settings, storage).title == "127.0.0.1"


def test_a_pdf_is_stored(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    pdf = samples.pdf()
    url = server.route("/docs/datasheet.pdf", pdf, content_type="application/octet-stream")
    result = analyze_url(url, settings, storage)
    assert (result.kind, result.title, result.content_type) == (
        "pdf",
        "datasheet.pdf",
        "application/pdf",
    )
    assert result.blob is not None and stored_bytes(storage, result.blob.key) == pdf


def test_an_image_over_the_image_limit_is_413(
    server: LocalHttpServer, make_settings: Any, storage: StorageDriver
) -> None:
    url = server.route("/big.png", samples.png(300, 300), chunked=True)  # no Content-Length
    with pytest.raises(UrlTooLarge) as caught:
        analyze_url(url, make_settings(max_image_bytes=500), storage)
    assert caught.value.status == 413
    assert list(storage.iter_keys()) == []


def test_a_pdf_may_be_larger_than_the_image_limit(
    server: LocalHttpServer, make_settings: Any, storage: StorageDriver
) -> None:
    pdf = samples.pdf() + b"%" + b"x" * 5000 + b"\n"
    url = server.route("/big.pdf", pdf)
    settings = make_settings(max_image_bytes=1000, max_file_bytes=10_000)
    assert analyze_url(url, settings, storage).kind == "pdf"
    with pytest.raises(UrlTooLarge):
        analyze_url(url, make_settings(max_image_bytes=1000, max_file_bytes=2000), storage)


@pytest.mark.parametrize(
    ("body", "detected"),
    [
        (samples.zip_file(), "application/zip"),
        (b"just some text\n", "text/plain"),
        (bytes(range(256)) * 4, "application/octet-stream"),
    ],
)
def test_other_content_is_415_naming_the_detected_type(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver, body: bytes, detected: str
) -> None:
    url = server.route("/file", body, content_type="image/png")
    with pytest.raises(UrlUnsupportedType) as caught:
        analyze_url(url, settings, storage)
    assert (caught.value.status, caught.value.code) == (415, "URL_UNSUPPORTED_TYPE")
    assert caught.value.details["detected_type"] == detected
    assert detected in caught.value.message


def test_an_image_type_not_in_allowed_types_is_415(
    server: LocalHttpServer, make_settings: Any, storage: StorageDriver
) -> None:
    url = server.route("/a.png", samples.png())
    with pytest.raises(UrlUnsupportedType, match="image/png"):
        analyze_url(url, make_settings(allowed_types=("image/jpeg",)), storage)


def test_fetch_errors_pass_through(
    server: LocalHttpServer, settings: Settings, storage: StorageDriver
) -> None:
    with pytest.raises(UrlHttpError):
        analyze_url(server.url("/missing"), settings, storage)
    with pytest.raises(UrlBlocked):
        analyze_url("http://169.254.169.254/latest/", settings, storage)


# --- previews -----------------------------------------------------------------------------------


def test_preview_of_a_page_names_its_first_usable_image(
    server: LocalHttpServer, settings: Settings
) -> None:
    server.route("/pixel.gif", samples.gif_1x1())
    server.route("/img.png", samples.png(30, 30))
    head = (
        '<meta property="og:image" content="/pixel.gif">'
        '<meta property="og:image" content="/nothing-here.png">'
        '<meta property="og:image" content="img.png">'
    )
    url = server.route("/p", samples.page("Preview me", head), content_type="text/html")
    preview = preview_url(url, settings)
    assert preview.title == "Preview me"
    assert preview.image_url == server.url("/img.png")
    assert (preview.original_url, preview.content_type) == (url, "webpage")


def test_preview_of_a_page_without_images_has_none(
    server: LocalHttpServer, settings: Settings
) -> None:
    url = server.route("/p", samples.page("Plain"), content_type="text/html")
    assert preview_url(url, settings).image_url is None


def test_preview_reads_only_the_start_of_a_candidate_image(
    server: LocalHttpServer, settings: Settings
) -> None:
    total = 64 * 1024 * 1024  # more than the socket buffers can hold

    def big_png() -> Iterator[bytes]:
        yield samples.png(64, 64)
        yield from pattern_body(total)()

    server.route("/big.png", big_png)
    url = server.route("/p", og_page("/big.png"), content_type="text/html")
    assert preview_url(url, settings).image_url == server.url("/big.png")
    assert server.wait_done("/big.png").bytes_sent < total // 4


def test_preview_of_an_image_is_the_image_itself(
    server: LocalHttpServer, settings: Settings
) -> None:
    url = server.route("/pics/board.png", samples.png())
    preview = preview_url(url, settings)
    assert (preview.title, preview.image_url, preview.content_type) == ("board.png", url, "image")


def test_preview_of_a_pdf_has_no_image(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/ds.pdf", samples.pdf())
    preview = preview_url(url, settings)
    assert (preview.title, preview.image_url, preview.content_type) == ("ds.pdf", None, "pdf")


def test_preview_of_other_content_is_415(server: LocalHttpServer, settings: Settings) -> None:
    url = server.route("/a.zip", samples.zip_file())
    with pytest.raises(UrlUnsupportedType, match="application/zip"):
        preview_url(url, settings)


# --- titles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  A\n  title\twith   spaces \n", "A title with spaces"),
        ("", ""),
        ("x" * 255, "x" * 255),
        ("x" * 256, "x" * 254 + "…"),
    ],
)
def test_fit_title(text: str, expected: str) -> None:
    assert fit_title(text) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.test/files/data%20sheet.pdf?x=1", "data sheet.pdf"),
        ("https://example.test/files/", "files"),
        ("https://example.test/", "example.test"),
        ("https://example.test", "example.test"),
    ],
)
def test_title_from_url(url: str, expected: str) -> None:
    assert title_from_url(url) == expected
