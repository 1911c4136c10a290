"""Attachment helpers under ``/api/parts``: copy-attachment and attachment-preview."""

from __future__ import annotations

import core.urlfetch.analyze as analyze

BAD_COPY_BODIES = [
    ({"target_part_key": "ABCD"}, "attachment_id"),
    ({"attachment_id": 1}, "target_part_key"),
    ({"attachment_id": 1, "target_part_key": "abcd"}, "target_part_key"),
    ({"attachment_id": 0, "target_part_key": "ABCD"}, "attachment_id"),
    ({"attachment_id": 2**40, "target_part_key": "ABCD"}, "attachment_id"),
    ({"attachment_id": 1, "target_part_key": "ABCD", "extra": 1}, "extra"),
]
BAD_PREVIEW_BODIES = [{}, {"url": ""}, {"url": "x" * 2001}, {"url": "x", "y": 1}]


def test_copy_attachment_into_a_part_shares_the_bytes(client, new_part, upload_png) -> None:
    source, target = new_part(), new_part()
    original = upload_png(source["attachment_set_id"])
    response = client.post(
        "/api/parts/copy-attachment",
        json={"attachment_id": original["id"], "target_part_key": target["key"]},
    )
    assert response.status_code == 200
    copy = response.json["attachment"]
    assert copy["id"] != original["id"]
    assert copy["attachment_set_id"] == target["attachment_set_id"]
    assert copy["attachment_url"] == original["attachment_url"]
    assert copy["title"] == original["title"]


def test_copy_attachment_can_set_the_cover(client, new_part, upload_png) -> None:
    source, target = new_part(), new_part()
    upload_png(target["attachment_set_id"], "blue")
    red = upload_png(source["attachment_set_id"], "red")
    copy = client.post(
        "/api/parts/copy-attachment",
        json={"attachment_id": red["id"], "target_part_key": target["key"], "set_as_cover": True},
    ).json["attachment"]
    cover = client.get(f"/api/attachment-sets/{target['attachment_set_id']}/cover").json
    assert cover["cover_attachment_id"] == copy["id"]
    assert client.get(f"/api/parts/{target['key']}").json["cover_url"] == cover["cover_url"]


def test_copy_unknown_attachment_is_404(client, new_part) -> None:
    response = client.post(
        "/api/parts/copy-attachment",
        json={"attachment_id": 999999, "target_part_key": new_part()["key"]},
    )
    assert response.status_code == 404


def test_copy_to_unknown_part_is_404(client, new_part, upload_png) -> None:
    attachment = upload_png(new_part()["attachment_set_id"])
    response = client.post(
        "/api/parts/copy-attachment",
        json={"attachment_id": attachment["id"], "target_part_key": "ZZZZ"},
    )
    assert response.status_code == 404


def test_copy_validation_errors_are_400_naming_the_field(client, subtests) -> None:
    for body, field in BAD_COPY_BODIES:
        with subtests.test(msg=repr(body)):
            response = client.post("/api/parts/copy-attachment", json=body)
            assert response.status_code == 400
            assert field in response.json["details"]["fields"]


def test_attachment_preview_answers_like_the_core_endpoint(client, monkeypatch) -> None:
    seen: list[str] = []

    def fake_preview(url: str, settings: object) -> analyze.UrlPreview:
        seen.append(url)
        return analyze.UrlPreview(
            title="Datasheet", image_url="https://example.com/a.png", original_url=url,
            content_type="webpage",
        )

    monkeypatch.setattr(analyze, "preview_url", fake_preview)
    url = "https://example.com/part"
    ours = client.post("/api/parts/attachment-preview", json={"url": url})
    core = client.post("/api/attachment-preview", json={"url": url})
    assert ours.status_code == 200
    assert ours.json == core.json == {
        "title": "Datasheet",
        "image_url": "https://example.com/a.png",
        "original_url": url,
        "content_type": "webpage",
    }
    assert seen == [url, url]


def test_attachment_preview_of_a_blocked_address_is_refused_like_the_core(client) -> None:
    url = "http://127.0.0.1:9/private"
    ours = client.post("/api/parts/attachment-preview", json={"url": url})
    core = client.post("/api/attachment-preview", json={"url": url})
    assert 400 <= ours.status_code < 500
    assert (ours.status_code, ours.json["code"]) == (core.status_code, core.json["code"])


def test_attachment_preview_validation_errors_are_400(client, subtests) -> None:
    for body in BAD_PREVIEW_BODIES:
        with subtests.test(msg=repr(body)[:60]):
            assert client.post("/api/parts/attachment-preview", json=body).status_code == 400
