"""GET/HEAD /api/cas/<sha256>: headers, conditional and range requests, safety, thumbnails.

The app under test (``cas_app``) has an unreachable database: serving must never touch it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from core.cas import thumbnails
from core.cas.ingest import StoredBlob
from core.cas.serving import IMMUTABLE_CACHE_CONTROL, SANDBOX_CSP
from core.state import get_state
from storage_drivers.base import BlobStat, StorageUnavailable
from storage_drivers.local import LocalDriver
from tests.cas.conftest import (
    HTML,
    SVG,
    jpeg_with_orientation,
    pdf,
    png,
    png_header_claiming,
    put_blob,
)

Put = Callable[[bytes], StoredBlob]
TEXT = b"0123456789" * 10_000  # 100,000 bytes of text, larger than one 64 KiB chunk


def url(blob: StoredBlob | str, **query: object) -> str:
    sha = blob if isinstance(blob, str) else blob.sha256
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/cas/{sha}" + (f"?{params}" if params else "")


@pytest.fixture
def text_blob(put: Put) -> StoredBlob:
    return put(TEXT)


# --- the plain GET ----------------------------------------------------------------------------


def test_get_returns_the_bytes_with_immutable_caching(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(url(text_blob))
    assert response.status_code == 200
    assert response.data == TEXT
    assert response.headers["ETag"] == f'"{text_blob.sha256}"'
    assert response.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(len(TEXT))


def test_get_is_streamed_from_storage(cas_app: Flask, text_blob) -> None:
    with cas_app.test_request_context(url(text_blob)):
        response = cas_app.full_dispatch_request()
    assert response.direct_passthrough
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) > 1 and b"".join(chunks) == TEXT
    response.close()


def test_type_comes_from_the_stored_bytes(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png())
    response = cas_client.get(url(blob, filename="photo.txt"))
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline; ")


def test_nosniff_and_sandbox_on_every_kind_of_answer(cas_client: FlaskClient, text_blob) -> None:
    answers = [
        cas_client.get(url(text_blob)),
        cas_client.get(url(text_blob), headers={"If-None-Match": f'"{text_blob.sha256}"'}),
        cas_client.get(url(text_blob), headers={"Range": "bytes=0-1"}),
        cas_client.get(url(text_blob), headers={"Range": "bytes=999999-"}),
        cas_client.get(url("f" * 64)),
        cas_client.get(url("nothex")),
        cas_client.head(url(text_blob)),
    ]
    for response in answers:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.status
        assert response.headers["Content-Security-Policy"] == SANDBOX_CSP, response.status


# --- conditional requests ---------------------------------------------------------------------


@pytest.mark.parametrize("template", ['"{}"', 'W/"{}"', '"nope", "{}"', "*"])
def test_if_none_match_gives_304(cas_client: FlaskClient, text_blob, template: str) -> None:
    response = cas_client.get(
        url(text_blob), headers={"If-None-Match": template.format(text_blob.sha256)}
    )
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == f'"{text_blob.sha256}"'
    assert response.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL


def test_if_none_match_other_etag_gives_200(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(url(text_blob), headers={"If-None-Match": '"other"'})
    assert response.status_code == 200


def test_if_none_match_star_for_an_unknown_blob_is_404(cas_client: FlaskClient) -> None:
    response = cas_client.get(url("e" * 64), headers={"If-None-Match": "*"})
    assert response.status_code == 404


# --- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-9", 0, 9), ("bytes=99990-", 99990, 99999), ("bytes=-5", 99995, 99999),
     ("bytes=70000-70010", 70000, 70010), ("bytes=5-999999", 5, 99999)],
)
def test_single_range_gives_206(
    cas_client: FlaskClient, text_blob, header: str, start: int, end: int
) -> None:
    response = cas_client.get(url(text_blob), headers={"Range": header})
    assert response.status_code == 206
    assert response.data == TEXT[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(TEXT)}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_range_outside_the_blob_gives_416(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(url(text_blob), headers={"Range": "bytes=100000-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(TEXT)}"
    assert response.json["code"] == "RANGE_NOT_SATISFIABLE"


def test_several_ranges_give_the_whole_blob(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(url(text_blob), headers={"Range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert response.data == TEXT


def test_malformed_range_is_ignored(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(url(text_blob), headers={"Range": "bytes=9-3"})
    assert response.status_code == 200 and response.data == TEXT


def test_if_range_with_the_etag_honours_the_range(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(
        url(text_blob), headers={"Range": "bytes=0-3", "If-Range": f'"{text_blob.sha256}"'}
    )
    assert response.status_code == 206 and response.data == TEXT[:4]


def test_if_range_with_another_etag_gives_the_whole_blob(
    cas_client: FlaskClient, text_blob
) -> None:
    response = cas_client.get(url(text_blob), headers={"Range": "bytes=0-3", "If-Range": '"x"'})
    assert response.status_code == 200 and response.data == TEXT


def test_range_of_a_range_request_sniffs_the_same_type(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png(400, 400))
    response = cas_client.get(url(blob), headers={"Range": "bytes=100-200"})
    assert response.status_code == 206
    assert response.headers["Content-Type"] == "image/png"


# --- HEAD -------------------------------------------------------------------------------------


def test_head_has_the_get_headers_and_no_body(cas_client: FlaskClient, text_blob) -> None:
    get = cas_client.get(url(text_blob))
    head = cas_client.head(url(text_blob))
    assert head.status_code == 200
    assert head.data == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control",
                 "Content-Disposition", "Accept-Ranges", "Content-Security-Policy"):
        assert head.headers[name] == get.headers[name], name


def test_head_with_range_gives_206_headers(cas_client: FlaskClient, text_blob) -> None:
    head = cas_client.head(url(text_blob), headers={"Range": "bytes=10-19"})
    assert head.status_code == 206
    assert head.headers["Content-Range"] == f"bytes 10-19/{len(TEXT)}"
    assert head.headers["Content-Length"] == "10"
    assert head.data == b""


def test_head_of_unknown_blob_is_404(cas_client: FlaskClient) -> None:
    assert cas_client.head(url("d" * 64)).status_code == 404


# --- Content-Disposition ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fallback", "decoded"),
    [
        ("%22quoted%22.txt", "_quoted_.txt", '"quoted".txt'),
        ("a%0D%0ASet-Cookie:%20x=1.txt", "aSet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
        ("Widerst%C3%A4nde%20%CE%A9.txt", "Widerstande .txt", "Widerstände Ω.txt"),
        ("..%2F..%2Fetc%2Fpasswd", "passwd", "passwd"),
        ("..%5C..%5Cboot.ini", "boot.ini", "boot.ini"),
    ],
)
def test_disposition_filename_is_escaped(
    cas_client: FlaskClient, text_blob, raw: str, fallback: str, decoded: str
) -> None:
    response = cas_client.get(f"{url(text_blob)}?disposition=attachment&filename={raw}")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    header = response.headers["Content-Disposition"]
    kind, plain, extended = header.split("; ")
    assert kind == "attachment"
    assert plain == f'filename="{fallback}"'
    assert unquote(extended.removeprefix("filename*=UTF-8''")) == decoded


def test_disposition_defaults_to_inline(cas_client: FlaskClient, text_blob) -> None:
    assert cas_client.get(url(text_blob)).headers["Content-Disposition"] == "inline"


# --- active content ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [SVG, HTML], ids=["svg", "html"])
def test_active_content_is_never_inline(cas_client: FlaskClient, put: Put, data: bytes) -> None:
    blob = put(data)
    response = cas_client.get(url(blob, disposition="inline"))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["Content-Security-Policy"] == SANDBOX_CSP


def test_client_content_type_html_cannot_make_an_inline_page(
    cas_client: FlaskClient, text_blob
) -> None:
    response = cas_client.get(url(text_blob, content_type="text/html", disposition="inline"))
    assert response.headers["Content-Type"] == "text/html"
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["Content-Security-Policy"] == SANDBOX_CSP


def test_client_content_type_is_served_for_safe_content(
    cas_client: FlaskClient, text_blob
) -> None:
    response = cas_client.get(url(text_blob, content_type="text/plain;%20charset=latin-1"))
    assert response.headers["Content-Type"] == "text/plain; charset=latin-1"
    assert response.headers["Content-Disposition"] == "inline"


@pytest.mark.parametrize(
    "value", ["text/html%0D%0AX-Injected:%201", "nonsense", "text/html;%20boundary=x"]
)
def test_malformed_content_type_is_400(cas_client: FlaskClient, text_blob, value: str) -> None:
    response = cas_client.get(url(text_blob, content_type=value))
    assert response.status_code == 400
    assert "content_type" in response.json["details"]["fields"]
    assert "X-Injected" not in response.headers


def test_inline_pdf_is_not_sandboxed_so_browsers_can_show_it(
    cas_client: FlaskClient, put: Put
) -> None:
    blob = put(pdf())
    inline = cas_client.get(url(blob))
    assert inline.headers["Content-Type"] == "application/pdf"
    assert inline.headers["Content-Disposition"] == "inline"
    assert "Content-Security-Policy" not in inline.headers
    attached = cas_client.get(url(blob, disposition="attachment"))
    assert attached.headers["Content-Security-Policy"] == SANDBOX_CSP


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sha", ["abc", "A" * 64, "g" * 64, "a" * 65, "a" * 63])
def test_malformed_hash_is_400_saying_so(cas_client: FlaskClient, sha: str) -> None:
    response = cas_client.get(url(sha))
    assert response.status_code == 400
    assert "SHA-256" in response.json["error"]


def test_hash_with_a_trailing_newline_is_400(cas_client: FlaskClient, text_blob) -> None:
    response = cas_client.get(f"/api/cas/{text_blob.sha256}%0A")
    assert response.status_code == 400
    assert "SHA-256" in response.json["error"]


def test_unknown_hash_is_404(cas_client: FlaskClient) -> None:
    response = cas_client.get(url("0" * 64))
    assert response.status_code == 404
    assert response.json["code"] == "NOT_FOUND"


class DownDriver(LocalDriver):
    """A local driver whose every operation fails as if the backend were unreachable."""

    def _down(self, *args: object, **kwargs: object) -> None:
        raise StorageUnavailable("storage is down (test)")

    def stat(self, key: str) -> BlobStat | None:
        self._down()
        return None

    def open(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self._down()
        return iter(())

    def put(self, key, stream, size=None) -> None:  # type: ignore[no-untyped-def]
        self._down()


@pytest.mark.parametrize("query", [{}, {"thumbnail": 50}])
def test_storage_down_is_503(cas_app: Flask, text_blob, tmp_path, query: dict) -> None:
    state = get_state(cas_app)
    state.storage = state.read_storage = DownDriver(str(tmp_path / "down"))
    response = cas_app.test_client().get(url(text_blob, **query))
    assert response.status_code == 503
    assert response.json["code"] == "STORAGE_UNAVAILABLE"


# --- thumbnails -------------------------------------------------------------------------------


def _jpeg(response) -> Image.Image:
    assert response.status_code == 200, response.json
    assert response.headers["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.data))
    assert image.format == "JPEG"
    return image


def test_a_thumbnail_of_an_attachment_url_with_its_content_type_is_still_a_jpeg(
    cas_client: FlaskClient, put: Put
) -> None:
    """The UI adds ``&thumbnail=N`` to ``attachment_url``, which carries the original's type."""
    blob = put(png(400, 200))
    response = cas_client.get(url(blob, content_type="image/png", thumbnail=100))
    assert _jpeg(response).size == (100, 50)
    assert response.headers["ETag"] == f'"{blob.sha256}-t100"'


def test_thumbnail_is_a_jpeg_of_the_right_size(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png(400, 200))
    response = cas_client.get(url(blob, thumbnail=100))
    assert _jpeg(response).size == (100, 50)
    assert response.headers["ETag"] == f'"{blob.sha256}-t100"'
    assert response.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL
    assert response.headers["Content-Disposition"] == "inline"


def test_thumbnail_if_none_match_gives_304(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png(400, 200))
    response = cas_client.get(
        url(blob, thumbnail=100), headers={"If-None-Match": f'"{blob.sha256}-t100"'}
    )
    assert response.status_code == 304


def test_thumbnail_is_stored_in_the_object_store(cas_app: Flask, put: Put) -> None:
    blob = put(png(400, 200))
    response = cas_app.test_client().get(url(blob, thumbnail=64))
    stored = get_state(cas_app).storage.open(thumbnails.thumbnail_key(blob.sha256, 64))
    assert b"".join(stored) == response.data


def test_a_second_instance_reuses_the_stored_thumbnail(
    make_cas_app: Callable[..., Flask], monkeypatch
) -> None:
    first = make_cas_app()
    blob = put_blob(first, png(300, 300))
    rendered = first.test_client().get(url(blob, thumbnail=80))
    assert rendered.status_code == 200
    second = make_cas_app()
    assert get_state(second).storage is not get_state(first).storage

    def no_render(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the second instance rendered the thumbnail again")

    monkeypatch.setattr(thumbnails, "decode_source", no_render)
    reused = second.test_client().get(url(blob, thumbnail=80))
    assert reused.status_code == 200
    assert reused.data == rendered.data


def test_thumbnail_range_and_head(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png(300, 300))
    full = cas_client.get(url(blob, thumbnail=50)).data
    head = cas_client.head(url(blob, thumbnail=50))
    assert head.headers["Content-Length"] == str(len(full)) and head.data == b""
    part = cas_client.get(url(blob, thumbnail=50), headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.data == full[:10]


def test_pdf_thumbnail_shows_the_first_page(cas_client: FlaskClient, put: Put) -> None:
    blob = put(pdf(300, 200, "red"))
    image = _jpeg(cas_client.get(url(blob, thumbnail=150)))
    assert image.size == (150, 100)
    r, g, b = image.convert("RGB").getpixel((75, 50))  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied(cas_client: FlaskClient, put: Put) -> None:
    blob = put(jpeg_with_orientation(200, 100, orientation=6))
    assert _jpeg(cas_client.get(url(blob, thumbnail=100))).size == (50, 100)


def test_transparency_is_flattened_on_white(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png(20, 20, (255, 0, 0, 0), mode="RGBA"))
    image = _jpeg(cas_client.get(url(blob, thumbnail=20)))
    assert image.mode == "RGB"
    assert all(channel > 245 for channel in image.getpixel((10, 10)))  # type: ignore[union-attr]


def test_svg_thumbnail_is_415(cas_client: FlaskClient, put: Put) -> None:
    response = cas_client.get(url(put(SVG), thumbnail=100))
    assert response.status_code == 415
    assert response.json["code"] == "THUMBNAIL_UNSUPPORTED"


def test_truncated_png_thumbnail_is_422(cas_client: FlaskClient, put: Put) -> None:
    data = png(300, 300, "blue")
    blob = put(data[: len(data) // 2])
    response = cas_client.get(url(blob, thumbnail=100))
    assert response.status_code == 422
    assert response.json["code"] == "IMAGE_UNREADABLE"


def test_decompression_bomb_is_422(cas_client: FlaskClient, put: Put) -> None:
    blob = put(png_header_claiming(100_000, 100_000))
    response = cas_client.get(url(blob, thumbnail=100))
    assert response.status_code == 422
    assert response.json["code"] == "IMAGE_TOO_LARGE"


def test_image_above_the_pixel_setting_is_422(make_cas_app: Callable[..., Flask]) -> None:
    app = make_cas_app(thumbnail_max_pixels=100)
    blob = put_blob(app, png(20, 20))
    response = app.test_client().get(url(blob, thumbnail=10))
    assert response.status_code == 422
    assert response.json["details"]["max_pixels"] == 100


def test_a_content_type_does_not_make_text_thumbnailable(
    cas_client: FlaskClient, text_blob
) -> None:
    """With ``thumbnail``, ``content_type`` is ignored: the stored bytes decide (415)."""
    response = cas_client.get(url(text_blob, thumbnail=100, content_type="image/png"))
    assert response.status_code == 415


@pytest.mark.parametrize("size", ["0", "1001", "-5", "big"])
def test_thumbnail_size_out_of_range_is_400(cas_client: FlaskClient, text_blob, size) -> None:
    response = cas_client.get(url(text_blob, thumbnail=size))
    assert response.status_code == 400
    assert "thumbnail" in response.json["details"]["fields"]


def test_thumbnail_of_unknown_blob_is_404(cas_client: FlaskClient) -> None:
    assert cas_client.get(url("c" * 64, thumbnail=10)).status_code == 404


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_documents_the_parameters_and_answers(cas_app: Flask) -> None:
    operation = cas_app.api_doc["paths"]["/api/cas/{sha256}"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert names == {"sha256", "content_type", "filename", "disposition", "thumbnail"}
    assert {"200", "206", "304", "400", "404", "416", "503"} <= set(operation["responses"])


# --- presigned redirects ----------------------------------------------------------------------


@pytest.fixture
def s3_storage_url(s3_server, s3_bucket: str, s3_prefix: str) -> str:
    from tests.storage.targets import remote_url

    return remote_url("s3", s3_server, s3_bucket, s3_prefix)


@pytest.mark.s3
def test_presigned_mode_redirects_safe_content_to_storage(
    make_cas_app: Callable[..., Flask], s3_storage_url: str
) -> None:
    app = make_cas_app(storage_url=s3_storage_url, cas_redirect="presigned")
    blob = put_blob(app, png(30, 30))
    response = app.test_client().get(url(blob))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:")
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200 and fetched.content == png(30, 30)


@pytest.mark.s3
def test_presigned_mode_serves_active_content_itself(
    make_cas_app: Callable[..., Flask], s3_storage_url: str
) -> None:
    app = make_cas_app(storage_url=s3_storage_url, cas_redirect="presigned")
    blob = put_blob(app, SVG)
    response = app.test_client().get(url(blob))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.data == SVG


@pytest.mark.s3
def test_presigned_mode_redirects_thumbnails(
    make_cas_app: Callable[..., Flask], s3_storage_url: str
) -> None:
    app = make_cas_app(storage_url=s3_storage_url, cas_redirect="presigned")
    blob = put_blob(app, png(300, 150))
    response = app.test_client().get(url(blob, thumbnail=60))
    assert response.status_code == 302
    fetched = requests.get(response.headers["Location"], timeout=10)
    assert Image.open(io.BytesIO(fetched.content)).size == (60, 30)


@pytest.mark.s3
@pytest.mark.parametrize("kind", ["s3", "minio"])
@pytest.mark.parametrize(
    "query",
    [
        {"filename": "board \u00e9.png"},
        {"disposition": "attachment"},
        {"disposition": "attachment", "filename": "x.png"},
        {"content_type": "image/png"},
    ],
    ids=["filename", "attachment", "attachment-filename", "content-type"],
)
def test_presigned_redirect_carries_the_headers_the_app_would_send(
    make_cas_app: Callable[..., Flask], s3_server, s3_bucket: str, s3_prefix: str, kind, query
) -> None:
    from tests.storage.targets import remote_url

    storage_url = remote_url(kind, s3_server, s3_bucket, s3_prefix)
    redirecting = make_cas_app(storage_url=storage_url, cas_redirect="presigned")
    streaming = make_cas_app(storage_url=storage_url, cache_max_bytes=0)
    blob = put_blob(redirecting, png(30, 30))
    response = redirecting.test_client().get(url(blob, **query))
    assert response.status_code == 302
    direct = streaming.test_client().get(url(blob, **query))
    fetched = requests.get(response.headers["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == png(30, 30)
    for header in ("Content-Type", "Content-Disposition", "Cache-Control"):
        assert fetched.headers[header] == direct.headers[header], header


@pytest.mark.s3
def test_presigned_mode_serves_a_requested_unsafe_type_itself(
    make_cas_app: Callable[..., Flask], s3_storage_url: str
) -> None:
    app = make_cas_app(storage_url=s3_storage_url, cas_redirect="presigned")
    blob = put_blob(app, png(30, 30))
    response = app.test_client().get(url(blob, content_type="text/html"))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["Content-Security-Policy"] == SANDBOX_CSP
