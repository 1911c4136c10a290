"""How an upload's multipart framing is read: a body that is not a whole form is a 400 that
stores nothing, extra parts are bounded, and only the one file part the route asked for is kept."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

HASH_NAME = re.compile(r"[0-9a-f]{64}")


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def _field(name: str, value: bytes, headers: bytes = b"") -> bytes:
    return (
        b'--BB\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n'
        + headers + b"\r\n" + value + b"\r\n"
    )  # fmt: skip


def _file(name: str, filename: str, data: bytes) -> bytes:
    return (
        b'--BB\r\nContent-Disposition: form-data; name="' + name.encode() + b'"; filename="'
        + filename.encode() + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data + b"\r\n"
    )  # fmt: skip


END = b"--BB--\r\n"


@pytest.fixture
def set_id(client: FlaskClient) -> int:
    return int(client.post("/api/parts", json={"description": "p"}).json["attachment_set_id"])


def _post(
    client: FlaskClient,
    set_id: int,
    body: bytes,
    content_type: str = "multipart/form-data; boundary=BB",
):
    return client.post(
        f"/api/attachment-sets/{set_id}/attachments", data=body, content_type=content_type
    )


def _stored_blobs(tmp_path: Path) -> set[str]:
    root = tmp_path / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file() and HASH_NAME.fullmatch(p.name)}


def _attachments(client: FlaskClient, set_id: int) -> list[dict]:
    return client.get(f"/api/attachment-sets/{set_id}/attachments").json


def test_a_body_cut_off_before_its_closing_boundary_is_a_400_that_stores_nothing(
    client: FlaskClient, set_id: int, tmp_path: Path
) -> None:
    whole = _field("title", b"t") + _file("file", "a.png", _png("red")) + END
    for cut in (len(whole) - len(END), len(whole) - len(END) - 10, len(whole) // 2):
        response = _post(client, set_id, whole[:cut])
        assert response.status_code == 400, response.json
        assert response.json["code"] == "MALFORMED_MULTIPART"
        assert "closing boundary" in response.json["error"]
    assert _attachments(client, set_id) == []
    assert _stored_blobs(tmp_path) == set()
    assert _post(client, set_id, whole).status_code == 201  # the same bytes, whole, are taken


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        ("multipart/form-data", "without a boundary"),
        ("multipart/form-data; boundary=" + "b" * 300, "boundary"),
    ],
)
def test_a_missing_or_impossible_boundary_is_named(
    client: FlaskClient, set_id: int, content_type: str, fragment: str
) -> None:
    body = _field("title", b"t") + _file("file", "a.png", _png("red")) + END
    response = _post(client, set_id, body, content_type)
    assert response.status_code == 400
    assert response.json["code"] == "MALFORMED_MULTIPART"
    assert fragment in response.json["error"]


def test_a_part_without_content_disposition_is_a_400(client: FlaskClient, set_id: int) -> None:
    body = (
        _field("title", b"t")
        + b"--BB\r\nContent-Type: text/plain\r\n\r\nx\r\n"
        + _file("file", "a.png", _png("red"))
        + END
    )
    response = _post(client, set_id, body)
    assert response.status_code == 400
    assert response.json["code"] == "MALFORMED_MULTIPART"
    assert "Content-Disposition" in response.json["error"]


def test_more_parts_than_the_app_allows_is_a_413_naming_the_limit(
    client: FlaskClient, set_id: int, tmp_path: Path
) -> None:
    limit = client.application.config["MAX_FORM_PARTS"]
    body = _file("file", "a.png", _png("red")) + _field("title", b"t") * limit + END
    response = _post(client, set_id, body)
    assert response.status_code == 413
    assert response.json["details"] == {"limit_parts": limit, "limit": "form_parts"}
    assert _stored_blobs(tmp_path) == set()


def test_only_the_first_file_part_of_the_field_is_stored(
    client: FlaskClient, set_id: int, tmp_path: Path
) -> None:
    first, second, other = _png("red"), _png("blue"), _png("green")
    body = (
        _field("title", b"t")
        + _file("file", "first.png", first)
        + _file("file", "second.png", second)
        + _file("thumbnail", "other.png", other)
        + END
    )
    response = _post(client, set_id, body)
    assert response.status_code == 201, response.json
    assert response.json["filename"] == "first.png"
    assert _stored_blobs(tmp_path) == {hashlib.sha256(first).hexdigest()}


def test_a_text_field_is_read_in_the_charset_its_part_names(
    client: FlaskClient, set_id: int
) -> None:
    latin1 = b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
    body = _field("title", "Résumé".encode("latin-1"), latin1) + _file("file", "a.png", _png("red"))
    response = _post(client, set_id, body + END)
    assert response.status_code == 201, response.json
    assert response.json["title"] == "Résumé"


def test_a_text_field_in_broken_utf8_keeps_what_can_be_read(
    client: FlaskClient, set_id: int
) -> None:
    body = _field("title", b"caf\xe9 r\xc3\xa9sistor") + _file("file", "a.png", _png("red"))
    response = _post(client, set_id, body + END)
    assert response.status_code == 201, response.json
    assert response.json["title"] == "caf\N{REPLACEMENT CHARACTER} résistor"
