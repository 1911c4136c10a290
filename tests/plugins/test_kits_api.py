"""``/api/kits``: create, read, patch, delete, archive/unarchive, list, and their errors."""

from __future__ import annotations

from core.attachments.models import Attachment, AttachmentSet
from plugins.kits.models import KitContent
from plugins.parts.service import get_part

KIT_FIELDS = {
    "id", "name", "description", "status", "build_target", "archived_at", "attachment_set_id",
    "cover_url", "shopping_list_badge_count", "pick_list_badge_count", "created_at", "updated_at",
}
#: What the detail adds (the contract's KitDetailResponseSchema).
DETAIL_FIELDS = {"contents", "shopping_list_links", "pick_lists"}

BAD_CREATE_BODIES = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 256}, "name"),
    ({"name": "x", "build_target": -1}, "build_target"),
    ({"name": "x", "build_target": "many"}, "build_target"),
    ({"name": "x", "build_target": 10**12}, "build_target"),
    ({"name": "x", "status": "archived"}, "status"),
    ({"name": "x", "description": "d" * 10_001}, "description"),
]
BAD_PATCH_BODIES = [
    ({"name": None}, "name"),
    ({"build_target": None}, "build_target"),
    ({"build_target": -3}, "build_target"),
    ({"status": "archived"}, "status"),
]
BAD_KIT_PATHS = [
    ("/api/kits/999999", 404),
    ("/api/kits/abc", 404),
    ("/api/kits/-1", 404),
    ("/api/kits/0", 400),
    ("/api/kits/99999999999", 400),
]
BAD_LIST_QUERIES = ["limit=0", "limit=1001", "limit=x", "offset=-1", "query=" + "q" * 201]


# --- create and read ----------------------------------------------------------------------


def test_create_returns_201_with_the_kit_detail(client) -> None:
    response = client.post(
        "/api/kits", json={"name": " Blinky ", "description": "LED blinker", "build_target": 4}
    )
    assert response.status_code == 201
    body = response.json
    assert set(body) == KIT_FIELDS | DETAIL_FIELDS
    assert body["name"] == "Blinky"
    assert body["description"] == "LED blinker"
    assert body["build_target"] == 4
    assert body["status"] == "active"
    assert body["archived_at"] is None
    assert body["cover_url"] is None
    assert body["contents"] == []


def test_defaults_build_target_1_and_blank_description_null(new_kit) -> None:
    body = new_kit("Plain", description="   ")
    assert body["build_target"] == 1
    assert body["description"] is None


def test_build_target_may_be_zero(new_kit) -> None:
    assert new_kit("Zero", build_target=0)["build_target"] == 0


def test_create_validation_errors_are_400_naming_the_field(client, subtests) -> None:
    for body, field in BAD_CREATE_BODIES:
        with subtests.test(msg=f"{field}: {body!r}"[:80]):
            response = client.post("/api/kits", json=body)
            assert response.status_code == 400
            assert field in response.json["details"]["fields"]


def test_duplicate_name_ignoring_case_is_409(client, new_kit) -> None:
    new_kit("Blinky")
    response = client.post("/api/kits", json={"name": "BLINKY"})
    assert response.status_code == 409
    assert response.json["code"] == "KIT_NAME_TAKEN"


def test_kit_owns_a_set_that_names_it(client, new_kit) -> None:
    kit = new_kit()
    owner = client.get(f"/api/attachment-sets/{kit['attachment_set_id']}").json["owner"]
    assert owner == {"type": "kit", "id": kit["id"], "key": kit["id"]}


def test_get_kit(client, new_kit) -> None:
    kit = new_kit()
    assert client.get(f"/api/kits/{kit['id']}").json == kit


def test_kit_cover_url_follows_an_uploaded_image(client, new_kit, upload_png) -> None:
    kit = new_kit()
    upload_png(kit["attachment_set_id"])
    assert client.get(f"/api/kits/{kit['id']}").json["cover_url"].startswith("/api/cas/")
    assert client.get("/api/kits").json[0]["cover_url"].startswith("/api/cas/")


def test_bad_or_unknown_kit_ids_are_4xx_never_500(client, subtests) -> None:
    for path, status in BAD_KIT_PATHS:
        with subtests.test(msg=path):
            assert client.get(path).status_code == status
            assert client.patch(path, json={"name": "x"}).status_code == status
            assert client.delete(path).status_code == status
            assert client.post(f"{path}/archive").status_code == status
            assert client.post(f"{path}/unarchive").status_code == status
            assert client.post(f"{path}/contents", json={"part_id": 1}).status_code == status


# --- patch --------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(client, new_kit) -> None:
    kit = new_kit("Blinky", description="old", build_target=2)
    body = client.patch(f"/api/kits/{kit['id']}", json={"build_target": 5}).json
    assert (body["name"], body["description"], body["build_target"]) == ("Blinky", "old", 5)
    body = client.patch(f"/api/kits/{kit['id']}", json={"description": None}).json
    assert body["description"] is None
    body = client.patch(f"/api/kits/{kit['id']}", json={"name": "Blinker"}).json
    assert body["name"] == "Blinker"


def test_patch_with_no_change_is_409(client, new_kit, subtests) -> None:
    kit = new_kit("Blinky", build_target=2)
    for body in ({}, {"name": "Blinky"}, {"build_target": 2, "description": None}):
        with subtests.test(msg=repr(body)):
            response = client.patch(f"/api/kits/{kit['id']}", json=body)
            assert response.status_code == 409
            assert response.json["code"] == "NO_CHANGES"


def test_patch_archived_kit_is_409(client, new_kit) -> None:
    kit = new_kit()
    client.post(f"/api/kits/{kit['id']}/archive")
    response = client.patch(f"/api/kits/{kit['id']}", json={"build_target": 9})
    assert response.status_code == 409
    assert response.json["code"] == "KIT_ARCHIVED"


def test_patch_to_a_taken_name_is_409(client, new_kit) -> None:
    new_kit("Blinky")
    other = new_kit("Radio")
    response = client.patch(f"/api/kits/{other['id']}", json={"name": "blinky"})
    assert response.status_code == 409
    assert response.json["code"] == "KIT_NAME_TAKEN"


def test_patch_validation_errors_are_400_naming_the_field(client, new_kit, subtests) -> None:
    kit = new_kit()
    for body, field in BAD_PATCH_BODIES:
        with subtests.test(msg=repr(body)):
            response = client.patch(f"/api/kits/{kit['id']}", json=body)
            assert response.status_code == 400
            assert field in response.json["details"]["fields"]


# --- archive ------------------------------------------------------------------------------


def test_archive_and_unarchive(client, new_kit) -> None:
    kit = new_kit()
    archived = client.post(f"/api/kits/{kit['id']}/archive")
    assert archived.status_code == 200
    assert archived.json["status"] == "archived"
    assert archived.json["archived_at"] is not None
    active = client.post(f"/api/kits/{kit['id']}/unarchive")
    assert active.status_code == 200
    assert active.json["status"] == "active"
    assert active.json["archived_at"] is None


def test_archive_twice_is_409(client, new_kit) -> None:
    kit = new_kit()
    client.post(f"/api/kits/{kit['id']}/archive")
    response = client.post(f"/api/kits/{kit['id']}/archive")
    assert response.status_code == 409
    assert response.json["code"] == "KIT_ARCHIVED"


def test_unarchive_an_active_kit_is_409(client, new_kit) -> None:
    response = client.post(f"/api/kits/{new_kit()['id']}/unarchive")
    assert response.status_code == 409
    assert response.json["code"] == "KIT_NOT_ARCHIVED"


# --- delete -------------------------------------------------------------------------------


def test_delete_removes_kit_contents_set_and_attachments(
    client, new_kit, new_part, upload_png, in_app, events
) -> None:
    kit = new_kit()
    set_id = kit["attachment_set_id"]
    upload_png(set_id)
    part = new_part()
    with in_app():
        part_id = get_part(part["key"]).id
    client.post(f"/api/kits/{kit['id']}/contents", json={"part_id": part_id})
    assert client.delete(f"/api/kits/{kit['id']}").status_code == 204
    assert client.get(f"/api/kits/{kit['id']}").status_code == 404
    assert client.get(f"/api/attachment-sets/{set_id}").status_code == 404
    with in_app():
        assert KitContent.select().where(KitContent.kit == kit["id"]).count() == 0
        assert Attachment.select().where(Attachment.attachment_set == set_id).count() == 0
        assert AttachmentSet.select().where(AttachmentSet.id == set_id).count() == 0
    assert events.deleted == [{"type": "kit", "id": kit["id"], "attachment_set_id": set_id}]
    assert client.delete(f"/api/parts/{part['key']}").status_code == 204


def test_archived_kit_can_be_deleted(client, new_kit) -> None:
    kit = new_kit()
    client.post(f"/api/kits/{kit['id']}/archive")
    assert client.delete(f"/api/kits/{kit['id']}").status_code == 204


# --- list ---------------------------------------------------------------------------------


def _names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [kit["name"] for kit in response.json]


def test_list_is_most_recently_updated_first(client, new_kit) -> None:
    first, _second = new_kit("First"), new_kit("Second")
    assert _names(client.get("/api/kits")) == ["Second", "First"]
    client.patch(f"/api/kits/{first['id']}", json={"build_target": 7})
    assert _names(client.get("/api/kits")) == ["First", "Second"]


def test_list_items_have_the_kit_fields(client, new_kit) -> None:
    new_kit()
    assert set(client.get("/api/kits").json[0]) == KIT_FIELDS


def test_list_filters_by_status(client, new_kit) -> None:
    new_kit("Live")
    gone = new_kit("Gone")
    client.post(f"/api/kits/{gone['id']}/archive")
    assert _names(client.get("/api/kits?status=active")) == ["Live"]
    assert _names(client.get("/api/kits?status=archived")) == ["Gone"]
    assert sorted(_names(client.get("/api/kits"))) == ["Gone", "Live"]


def test_bad_status_is_400(client) -> None:
    response = client.get("/api/kits?status=deleted")
    assert response.status_code == 400
    assert "status" in response.json["details"]["fields"]


def test_query_matches_name_or_description_ignoring_case(client, new_kit) -> None:
    new_kit("Blinky LED", description="first project")
    new_kit("FM Radio", description="Needs a VARICAP diode")
    new_kit("Clock")
    assert _names(client.get("/api/kits?query=blink")) == ["Blinky LED"]
    assert _names(client.get("/api/kits?query=varicap")) == ["FM Radio"]
    assert _names(client.get("/api/kits?query=nothing")) == []


def test_query_wildcards_match_literally(client, new_kit) -> None:
    new_kit("100% done")
    new_kit("Other")
    assert _names(client.get("/api/kits?query=%25")) == ["100% done"]
    assert _names(client.get("/api/kits?query=_")) == []


def test_limit_and_offset(client, new_kit) -> None:
    for i in range(3):
        new_kit(f"K{i}")
    assert _names(client.get("/api/kits?limit=2")) == ["K2", "K1"]
    assert _names(client.get("/api/kits?limit=2&offset=2")) == ["K0"]


def test_bad_list_query_is_400(client, subtests) -> None:
    for query in BAD_LIST_QUERIES:
        with subtests.test(msg=query[:40]):
            assert client.get(f"/api/kits?{query}").status_code == 400
