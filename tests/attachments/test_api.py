"""The attachment REST API: sets, uploads, URL-less errors, cover rules, copy and archive."""

from __future__ import annotations

import io
import zipfile

from core.state import get_state
from tests.attachments.conftest import make_pdf, make_png


def test_get_set(client, set_id) -> None:
    response = client.get(f"/api/attachment-sets/{set_id}")
    assert response.status_code == 200
    body = response.json
    assert body["id"] == set_id
    assert body["cover_attachment_id"] is None
    assert body["attachments"] == []
    assert body["owner"] is None
    assert body["created_at"] and body["updated_at"]


def test_missing_set_is_404(client) -> None:
    response = client.get("/api/attachment-sets/999999")
    assert response.status_code == 404
    assert response.json["code"] == "NOT_FOUND"


def test_huge_set_id_is_400_not_500(client) -> None:
    response = client.get(f"/api/attachment-sets/{2**70}")
    assert response.status_code == 400


def test_upload_image(client, set_id, upload) -> None:
    png = make_png()
    response = upload(set_id, png, title="front", filename="front.png")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["attachment_type"] == "image"
    assert body["content_type"] == "image/png"
    assert body["file_size"] == len(png)
    assert body["filename"] == "front.png"
    assert body["attachment_set_id"] == set_id
    assert body["attachment_url"].startswith("/api/cas/")
    assert "content_type=image%2Fpng" in body["attachment_url"]
    assert "filename=front.png" in body["attachment_url"]
    assert body["preview_url"] == body["attachment_url"]


def test_type_comes_from_content_not_name(client, set_id, upload) -> None:
    response = upload(set_id, make_pdf(), filename="looks-like.png")
    assert response.status_code == 201
    assert response.json["attachment_type"] == "pdf"
    assert response.json["content_type"] == "application/pdf"
    assert "thumbnail=" in response.json["preview_url"]


def test_disallowed_type_is_415_naming_it(client, set_id, upload) -> None:
    response = upload(set_id, b"PK\x03\x04" + b"\x00" * 100, filename="a.zip")
    assert response.status_code == 415
    assert "application/zip" in response.json["error"]
    assert client.get(f"/api/attachment-sets/{set_id}/attachments").json == []


def test_missing_title_is_400_naming_it(client, set_id) -> None:
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(make_png()), "a.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "title" in response.json["error"]


def test_missing_file_is_400_naming_it(client, set_id) -> None:
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"title": "x"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "file" in response.json["error"]


def test_other_content_type_is_400_naming_both(client, set_id) -> None:
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments", data="x", content_type="text/plain"
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.json["error"]
    assert "application/json" in response.json["error"]


def test_upload_to_missing_set_is_404(client, upload) -> None:
    assert upload(987654, make_png()).status_code == 404


def test_image_over_limit_is_413_with_limit(app, set_id, upload) -> None:
    limit = get_state(app).settings.max_image_bytes
    big = make_png() + b"\x00" * (limit + 1)
    response = upload(set_id, big)
    assert response.status_code == 413
    assert str(limit) in response.json["error"]
    assert app.test_client().get(f"/api/attachment-sets/{set_id}/attachments").json == []


def test_same_bytes_twice_two_rows_one_blob(app, client, set_id, upload) -> None:
    png = make_png(color="blue")
    first = upload(set_id, png).json
    second = upload(set_id, png).json
    assert first["id"] != second["id"]
    assert first["attachment_url"] == second["attachment_url"]
    sha = first["attachment_url"].split("/api/cas/")[1].split("?")[0]
    storage = get_state(app).storage
    assert [s.key for s in storage.iter_keys(f"cas/{sha}")] == [f"cas/{sha}"]


def test_list_items_shape(client, set_id, upload) -> None:
    upload(set_id, make_png(), title="one")
    items = client.get(f"/api/attachment-sets/{set_id}/attachments").json
    assert len(items) == 1
    assert set(items[0]) == {
        "id",
        "attachment_type",
        "title",
        "url",
        "attachment_url",
        "preview_url",
    }


def test_get_attachment_of_other_set_is_409(client, app, set_id, upload) -> None:
    other = client.get(f"/api/attachment-sets/{set_id}").json  # noqa: F841 - set exists
    from core.attachments.models import AttachmentSet

    with app.app_context():
        second_set = AttachmentSet.create().id
    aid = upload(set_id, make_png()).json["id"]
    response = client.get(f"/api/attachment-sets/{second_set}/attachments/{aid}")
    assert response.status_code == 409
    assert response.json["error"] == f"attachment {aid} does not belong to set {second_set}"


def test_rename_attachment(client, set_id, upload) -> None:
    aid = upload(set_id, make_png()).json["id"]
    response = client.put(f"/api/attachment-sets/{set_id}/attachments/{aid}", json={"title": "new"})
    assert response.status_code == 200
    assert response.json["title"] == "new"


def test_rename_requires_title(client, set_id, upload) -> None:
    aid = upload(set_id, make_png()).json["id"]
    response = client.put(f"/api/attachment-sets/{set_id}/attachments/{aid}", json={})
    assert response.status_code == 400
    assert "title" in response.json["details"]["fields"]


def test_malformed_json_is_400(client, set_id, upload) -> None:
    aid = upload(set_id, make_png()).json["id"]
    response = client.put(
        f"/api/attachment-sets/{set_id}/attachments/{aid}",
        data="{not json",
        content_type="application/json",
    )
    assert response.status_code == 400


def test_first_image_becomes_cover(client, set_id, upload) -> None:
    upload(set_id, make_pdf())
    assert client.get(f"/api/attachment-sets/{set_id}/cover").json["cover_attachment_id"] is None
    image = upload(set_id, make_png()).json
    cover = client.get(f"/api/attachment-sets/{set_id}/cover").json
    assert cover["cover_attachment_id"] == image["id"]
    assert cover["cover_url"] == image["attachment_url"].split("?")[0]
    upload(set_id, make_png(color="green"))
    assert (
        client.get(f"/api/attachment-sets/{set_id}/cover").json["cover_attachment_id"]
        == image["id"]
    )


def test_deleting_cover_moves_it_to_oldest_image(client, set_id, upload) -> None:
    first = upload(set_id, make_png(color="red")).json["id"]
    upload(set_id, make_pdf())
    second = upload(set_id, make_png(color="green")).json["id"]
    third = upload(set_id, make_png(color="blue")).json["id"]
    assert (
        client.put(
            f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": third}
        ).status_code
        == 200
    )
    assert client.delete(f"/api/attachment-sets/{set_id}/attachments/{third}").status_code == 204
    assert client.get(f"/api/attachment-sets/{set_id}/cover").json["cover_attachment_id"] == first
    client.delete(f"/api/attachment-sets/{set_id}/attachments/{first}")
    assert client.get(f"/api/attachment-sets/{set_id}/cover").json["cover_attachment_id"] == second


def test_deleting_last_image_cover_clears_it(client, set_id, upload) -> None:
    image = upload(set_id, make_png()).json["id"]
    upload(set_id, make_pdf())
    client.delete(f"/api/attachment-sets/{set_id}/attachments/{image}")
    assert client.get(f"/api/attachment-sets/{set_id}/cover").json == {
        "cover_attachment_id": None,
        "cover_url": None,
    }


def test_deleting_non_cover_keeps_cover(client, set_id, upload) -> None:
    cover = upload(set_id, make_png()).json["id"]
    other = upload(set_id, make_png(color="white")).json["id"]
    client.delete(f"/api/attachment-sets/{set_id}/attachments/{other}")
    assert client.get(f"/api/attachment-sets/{set_id}/cover").json["cover_attachment_id"] == cover


def test_pdf_cover_has_no_cover_url(client, set_id, upload) -> None:
    pdf = upload(set_id, make_pdf()).json["id"]
    response = client.put(f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": pdf})
    assert response.json == {"cover_attachment_id": pdf, "cover_url": None}


def test_cover_of_other_set_is_409(app, client, set_id, upload) -> None:
    from core.attachments.models import AttachmentSet

    with app.app_context():
        other_set = AttachmentSet.create().id
    foreign = upload(other_set, make_png()).json["id"]
    response = client.put(f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": foreign})
    assert response.status_code == 409
    assert response.json["error"] == f"attachment {foreign} does not belong to set {set_id}"


def test_cover_null_and_delete_clear(client, set_id, upload) -> None:
    upload(set_id, make_png())
    response = client.put(f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": None})
    assert response.json == {"cover_attachment_id": None, "cover_url": None}
    upload(set_id, make_png(color="black"))
    assert (
        client.get(f"/api/attachment-sets/{set_id}/cover").json["cover_attachment_id"] is not None
    )
    assert client.delete(f"/api/attachment-sets/{set_id}/cover").json == {
        "cover_attachment_id": None,
        "cover_url": None,
    }


def test_cover_of_missing_attachment_is_404(client, set_id) -> None:
    response = client.put(f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": 424242})
    assert response.status_code == 404


def test_copy_shares_bytes_and_can_set_cover(app, client, set_id, upload) -> None:
    from core.attachments.models import AttachmentSet

    with app.app_context():
        target = AttachmentSet.create().id
    upload(target, make_png(color="yellow"))
    source = upload(set_id, make_png(color="purple")).json
    response = client.post(
        f"/api/attachment-sets/{target}/attachments/copy",
        json={"attachment_id": source["id"], "set_as_cover": True},
    )
    assert response.status_code == 201
    copy = response.json
    assert copy["attachment_set_id"] == target
    assert copy["attachment_url"] == source["attachment_url"]
    assert (
        client.get(f"/api/attachment-sets/{target}/cover").json["cover_attachment_id"] == copy["id"]
    )


def test_copy_of_missing_attachment_is_404(client, set_id) -> None:
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments/copy", json={"attachment_id": 55555}
    )
    assert response.status_code == 404


def test_archive_zip_streams_every_stored_file(client, set_id, upload) -> None:
    png, pdf = make_png(), make_pdf()
    upload(set_id, png, filename="../../etc/passwd")
    upload(set_id, png, filename="../../etc/passwd")
    upload(set_id, pdf, filename="data sheet.pdf")
    response = client.get(f"/api/attachment-sets/{set_id}/archive.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert len(names) == 3 and len(set(names)) == 3
    assert all("/" not in n and ".." not in n for n in names)
    assert archive.read("data sheet.pdf") == pdf
    assert sorted(archive.read(n) for n in names if n != "data sheet.pdf") == [png, png]


def test_set_names_no_owner_for_unowned_set(client, set_id) -> None:
    assert client.get(f"/api/attachment-sets/{set_id}").json["owner"] is None


def test_truncated_png_is_422(client, set_id, upload) -> None:
    png = make_png(200, 200)
    response = upload(set_id, png[: len(png) // 2])
    assert response.status_code == 422
    assert response.json["code"] == "CORRUPT_IMAGE"


def test_decompression_bomb_is_422(app, client, set_id, upload) -> None:
    limit = get_state(app).settings.thumbnail_max_pixels
    side = int(limit**0.5) + 100
    out = io.BytesIO()
    from PIL import Image

    Image.new("1", (side, side)).save(out, "PNG")  # tiny file, huge pixel count
    response = upload(set_id, out.getvalue())
    assert response.status_code == 422
    assert response.json["code"] == "IMAGE_TOO_MANY_PIXELS"


def test_fake_pdf_is_422(client, set_id, upload) -> None:
    response = upload(set_id, b"%PDF-1.7\n" + b"this is not a pdf at all\n" * 20)
    assert response.status_code == 422
    assert response.json["code"] == "CORRUPT_PDF"


def test_polyglot_png_with_html_is_rejected(client, set_id, upload) -> None:
    png = make_png()
    response = upload(set_id, png + b"<html><script>alert(1)</script></html>")
    assert response.status_code == 422
    assert response.json["code"] == "POLYGLOT_CONTENT"
    assert client.get(f"/api/attachment-sets/{set_id}/attachments").json == []


def test_copy_of_an_attachment_whose_bytes_are_gone_is_503_without_row(
    app, client, set_id, upload
) -> None:
    from core.attachments.models import Attachment

    source = upload(set_id, make_png(color="orange")).json
    with app.app_context():
        key = Attachment.get_by_id(source["id"]).blob_key
    get_state(app).storage.delete(key)
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments/copy", json={"attachment_id": source["id"]}
    )
    assert response.status_code == 503
    assert response.json["code"] == "BLOB_GONE"
    assert len(client.get(f"/api/attachment-sets/{set_id}/attachments").json) == 1
