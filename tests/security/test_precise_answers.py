"""Answers that say exactly what is wrong: form-field limits, undecodable file names, strict ids,
and archive entry names that cannot trick a desktop (reserved devices, bidi overrides)."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from core.api.uploads import FORM_FIELD_MAX_BYTES


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def set_id(client) -> int:
    return int(client.post("/api/parts", json={"description": "p"}).json["attachment_set_id"])


def _multipart(title: bytes, filename: bytes, data: bytes) -> bytes:
    return (
        b'--BB\r\nContent-Disposition: form-data; name="title"\r\n\r\n' + title + b"\r\n"
        b'--BB\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--BB--\r\n"
    )


def _post(client, set_id: int, body: bytes):
    return client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data=body,
        content_type="multipart/form-data; boundary=BB",
    )


def test_a_huge_text_field_is_a_413_naming_the_form_field_limit(client, set_id):
    title = b"t" * (FORM_FIELD_MAX_BYTES + 1)
    response = _post(client, set_id, _multipart(title, b"a.png", _png()))
    assert response.status_code == 413
    assert response.json["details"] == {"limit_bytes": FORM_FIELD_MAX_BYTES, "limit": "form_field"}
    assert "form field" in response.json["error"]


def test_a_raw_latin1_file_name_is_named_as_the_problem(client, set_id):
    response = _post(client, set_id, _multipart(b"t", b"caf\xe9.png", _png()))
    assert response.status_code == 400
    assert response.json["code"] == "MALFORMED_MULTIPART"
    assert response.json["details"]["fields"] == {"file.filename": "not valid UTF-8"}


def test_a_utf8_file_name_is_kept(client, set_id):
    response = _post(client, set_id, _multipart(b"t", "café.png".encode(), _png()))
    assert response.status_code == 201, response.json
    assert response.json["filename"] == "café.png"


@pytest.mark.parametrize("bad", [True, False, "1"])
def test_attachment_ids_in_bodies_are_integers_not_booleans_or_text(client, set_id, bad):
    created = _post(client, set_id, _multipart(b"t", b"a.png", _png()))
    assert created.json["id"] == 1
    response = client.put(f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": bad})
    assert response.status_code == 400
    assert "attachment_id" in response.json["details"]["fields"]


def test_a_part_reference_in_a_kit_body_is_not_a_boolean(client):
    kit = client.post("/api/kits", json={"name": "k"}).json
    response = client.post(f"/api/kits/{kit['id']}/contents", json={"part_id": True})
    assert response.status_code == 400
    assert "part_id" in response.json["details"]["fields"]


def _archive_names(client, set_id: int) -> list[str]:
    response = client.get(f"/api/attachment-sets/{set_id}/archive.zip")
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(response.data)).namelist()


@pytest.mark.parametrize("name", ["CON.png", "nul", "com1.tar.png", "LPT9.png"])
def test_archive_renames_windows_reserved_device_names(client, set_id, name):
    assert _post(client, set_id, _multipart(b"t", name.encode(), _png())).status_code == 201
    (entry,) = _archive_names(client, set_id)
    assert entry.split(".")[0].upper() not in {"CON", "NUL", "COM1", "LPT9"}
    assert entry.startswith("_") and entry.endswith(".png")


def test_archive_drops_bidi_overrides_and_names_the_real_type(client, set_id):
    trick = "photo\u202egnp.exe".encode()  # shows as "photoexe.png"
    assert _post(client, set_id, _multipart(b"t", trick, _png())).status_code == 201
    assert _archive_names(client, set_id) == ["photognp.exe.png"]
