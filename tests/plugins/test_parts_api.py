"""``/api/parts/{key}`` and ``POST /api/parts``: create, read, update, delete and their errors."""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.attachments.models import Attachment, AttachmentSet
from plugins.parts import hook_calls, keys, service

FULL = {
    "description": "NPN transistor",
    "manufacturer_code": "BC547B",
    "manufacturer": "onsemi",
    "product_page": "https://example.com/bc547",
    "tags": ["npn", "general purpose"],
    "package": "TO-92",
    "pin_count": 3,
    "pin_pitch": "2.54 mm",
    "voltage_rating": "45 V",
    "input_voltage": "5 V",
    "output_voltage": "3.3 V",
    "mounting_type": "THT",
    "series": "BC54x",
    "dimensions": "4.5 x 4.5 x 3.5 mm",
}

PART_FIELDS = {
    "id",
    "key",
    "description",
    "manufacturer_code",
    "manufacturer",
    "product_page",
    "type_id",
    "type",
    "tags",
    "package",
    "pin_count",
    "pin_pitch",
    "voltage_rating",
    "input_voltage",
    "output_voltage",
    "mounting_type",
    "series",
    "dimensions",
    "attachment_set_id",
    "cover_url",
    "total_quantity",
    "seller_links",
    "used_in_kits",
    "created_at",
    "updated_at",
}

BAD_CREATE_BODIES = [
    ({}, "description"),
    ({"description": ""}, "description"),
    ({"description": "   "}, "description"),
    ({"description": None}, "description"),
    ({"description": "x", "manufacturer": "m" * 256}, "manufacturer"),
    ({"description": "x", "manufacturer_code": "m" * 256}, "manufacturer_code"),
    ({"description": "x", "product_page": "p" * 501}, "product_page"),
    ({"description": "x", "package": "p" * 101}, "package"),
    ({"description": "x", "pin_pitch": "p" * 51}, "pin_pitch"),
    ({"description": "x", "mounting_type": "p" * 51}, "mounting_type"),
    ({"description": "x", "voltage_rating": "v" * 101}, "voltage_rating"),
    ({"description": "x", "series": "s" * 101}, "series"),
    ({"description": "x", "dimensions": "p" * 101}, "dimensions"),
    ({"description": "x", "pin_count": 0}, "pin_count"),
    ({"description": "x", "pin_count": -2}, "pin_count"),
    ({"description": "x", "pin_count": 2**40}, "pin_count"),
    ({"description": "x", "type_id": 0}, "type_id"),
    ({"description": "x", "tags": "not a list"}, "tags"),
    ({"description": "x", "tags": ["t" * 51]}, "tags.0"),
    ({"description": "x", "tags": ["t"] * 51}, "tags"),
    ({"description": "x", "key": "ABCD"}, "key"),
    ({"description": "x", "color": "red"}, "color"),
]

MALFORMED_KEYS = ["abcd", "ABC", "ABCDEFGHI", "AB1D", "%20%20%20%20", "ÄBCD"]


def _type_id(client, name: str) -> int:
    return next(t["id"] for t in client.get("/api/types").json if t["name"] == name)


# --- create ---------------------------------------------------------------------------------


def test_create_returns_201_with_every_field(client) -> None:
    type_id = _type_id(client, "Transistor")
    response = client.post("/api/parts", json={**FULL, "type_id": type_id})
    assert response.status_code == 201
    body = response.json
    assert set(body) == PART_FIELDS
    assert {k: body[k] for k in FULL} == FULL
    assert body["type"] == {"id": type_id, "name": "Transistor"}
    assert body["cover_url"] is None
    assert isinstance(body["attachment_set_id"], int)


def test_created_key_is_four_uppercase_letters(new_part) -> None:
    assert re.fullmatch(r"[A-Z]{4}", new_part()["key"])  # four letters while they are free


def test_random_key_is_four_uppercase_letters() -> None:
    assert all(keys.is_valid_key(keys.random_key()) for _ in range(200))


def test_minimal_part_has_empty_optional_fields(new_part) -> None:
    body = new_part(description="x")
    assert body["tags"] == []
    assert body["type"] is None and body["type_id"] is None
    assert all(body[k] is None for k in FULL if k not in ("description", "tags"))


def test_blank_strings_are_stored_as_null_and_text_is_stripped(client, new_part) -> None:
    body = new_part(description="  resistor  ", manufacturer="   ", package="", series=" S1 ")
    assert body["description"] == "resistor"
    assert body["manufacturer"] is None
    assert body["package"] is None
    assert body["series"] == "S1"
    assert client.get(f"/api/parts/{body['key']}").json["manufacturer"] is None


def test_tags_are_stripped_deduplicated_and_blank_ones_dropped(new_part) -> None:
    assert new_part(tags=[" a", "a", "", "b "])["tags"] == ["a", "b"]


def test_part_gets_its_own_attachment_set_named_after_it(client, new_part) -> None:
    first, second = new_part(), new_part()
    assert first["attachment_set_id"] != second["attachment_set_id"]
    owner = client.get(f"/api/attachment-sets/{first['attachment_set_id']}").json["owner"]
    assert owner == {"type": "part", "id": owner["id"], "key": first["key"]}


def test_create_validation_errors_are_400_naming_the_field(client, subtests) -> None:
    for body, field in BAD_CREATE_BODIES:
        with subtests.test(msg=f"{field}: {body!r}"[:80]):
            response = client.post("/api/parts", json=body)
            assert response.status_code == 400
            assert response.json["code"] == "VALIDATION_ERROR"
            assert field in response.json["details"]["fields"]


def test_create_with_unknown_type_is_404(client) -> None:
    response = client.post("/api/parts", json={"description": "x", "type_id": 987654})
    assert response.status_code == 404
    assert "987654" in response.json["error"]


def test_create_with_a_non_json_body_is_400(client) -> None:
    response = client.post("/api/parts", data="nope", content_type="application/json")
    assert response.status_code == 400


def test_key_collision_retries_with_another_key(client, new_part, monkeypatch) -> None:
    monkeypatch.setattr(keys, "random_key", lambda: "AAAA")
    assert new_part()["key"] == "AAAA"
    candidates = iter(["AAAA", "AAAA", "BBBB"])
    monkeypatch.setattr(keys, "random_key", lambda: next(candidates))
    assert new_part()["key"] == "BBBB"


def test_key_taken_by_a_concurrent_insert_is_retried_without_leaking_a_set(
    client, new_part, monkeypatch, in_app
) -> None:
    monkeypatch.setattr(keys, "random_key", lambda: "AAAA")
    new_part()
    with in_app():
        sets_before = AttachmentSet.select().count()
    candidates = iter(["AAAA", "BBBB"])
    monkeypatch.setattr(keys, "random_key", lambda: next(candidates))
    real_key_taken = service.key_taken
    checks: list[str] = []

    def misses_the_first_check(key: str) -> bool:
        checks.append(key)
        return False if len(checks) == 1 else real_key_taken(key)

    monkeypatch.setattr(service, "key_taken", misses_the_first_check)
    assert new_part()["key"] == "BBBB"
    assert checks == ["AAAA", "AAAA", "BBBB"]
    with in_app():
        assert AttachmentSet.select().count() == sets_before + 1


def test_crowded_key_space_still_creates_until_every_key_is_taken(
    client, new_part, monkeypatch
) -> None:
    space = keys.KeySpace(alphabet="AB", length=4)  # 16 keys: a crowded space, cheaply
    monkeypatch.setattr(service, "KEY_SPACES", (space,))
    monkeypatch.setattr(service, "KEY_WALK_CHUNK", 3)  # the walk crosses chunk boundaries
    monkeypatch.setattr(service, "KEY_WALK_MAX_READS", 20)  # enough to walk all 16
    created = {new_part()["key"] for _ in range(space.size)}
    assert created == {space.key_at(i) for i in range(space.size)}


def test_keys_grow_a_letter_once_the_shorter_space_is_full(client, new_part, monkeypatch) -> None:
    four, five = keys.KeySpace(alphabet="AB", length=4), keys.KeySpace(alphabet="AB", length=5)
    monkeypatch.setattr(service, "KEY_SPACES", (four, five))
    monkeypatch.setattr(service, "KEY_WALK_MAX_READS", 20)
    made = [new_part()["key"] for _ in range(four.size + five.size)]
    assert {key for key in made[: four.size]} == {four.key_at(i) for i in range(four.size)}
    assert {key for key in made[four.size :]} == {five.key_at(i) for i in range(five.size)}
    response = client.get(f"/api/parts/{made[-1]}")  # a five-letter key is a valid path key
    assert response.status_code == 200 and response.json["key"] == made[-1]


def test_a_crowded_space_costs_a_bounded_walk_before_the_next_space(
    client, new_part, monkeypatch
) -> None:
    four, five = keys.KeySpace(alphabet="AB", length=4), keys.KeySpace(alphabet="AB", length=5)
    monkeypatch.setattr(service, "KEY_SPACES", (four,))
    monkeypatch.setattr(service, "KEY_WALK_MAX_READS", 20)
    for _ in range(four.size):
        new_part()
    last = four.key_at(four.size - 1)
    assert client.delete(f"/api/parts/{last}").status_code == 204  # the one free key, at the end
    monkeypatch.setattr(service, "KEY_SPACES", (four, five))
    monkeypatch.setattr(service, "KEY_WALK_CHUNK", 1)
    monkeypatch.setattr(service, "KEY_WALK_MAX_READS", 2)
    first = four.key_at(0)
    monkeypatch.setattr(
        service, "_draw", lambda space: first if space == four else space.random_key()
    )
    key = new_part()["key"]
    assert len(key) == 5  # two index reads found no gap: the four-letter space counted as full
    monkeypatch.setattr(service, "KEY_WALK_MAX_READS", 20)
    assert new_part()["key"] == last  # a longer walk still finds the free key


def test_key_space_exhausted_is_409_and_leaves_no_set_behind(
    client, new_part, monkeypatch, in_app
) -> None:
    space = keys.KeySpace(alphabet="AB", length=4)
    monkeypatch.setattr(service, "KEY_SPACES", (space,))
    monkeypatch.setattr(service, "KEY_WALK_MAX_READS", 20)
    for _ in range(space.size):
        new_part()
    with in_app():
        sets_before = AttachmentSet.select().count()
    response = client.post("/api/parts", json={"description": "x"})
    assert response.status_code == 409
    assert response.json["code"] == "KEY_SPACE_EXHAUSTED"
    with in_app():
        assert AttachmentSet.select().count() == sets_before


# --- read -----------------------------------------------------------------------------------


def test_get_part_by_key(client, new_part) -> None:
    created = new_part(**FULL)
    response = client.get(f"/api/parts/{created['key']}")
    assert response.status_code == 200
    assert response.json == created


def test_get_unknown_key_is_404(client) -> None:
    response = client.get("/api/parts/ZZZZ")
    assert response.status_code == 404
    assert response.json["code"] == "NOT_FOUND"


def test_malformed_key_is_400_naming_the_key(client, subtests) -> None:
    for key in MALFORMED_KEYS:
        for method in (client.get, client.put, client.delete):
            with subtests.test(msg=f"{method.__name__} {key}"):
                response = method(f"/api/parts/{key}", json={"description": "x"})
                assert response.status_code == 400
                assert "key" in response.json["details"]["fields"]


def test_cover_url_follows_the_first_uploaded_image(client, new_part, upload_png) -> None:
    part = new_part()
    upload_png(part["attachment_set_id"])
    cover_url = client.get(f"/api/parts/{part['key']}").json["cover_url"]
    assert cover_url.startswith("/api/cas/")


# --- update ---------------------------------------------------------------------------------


def test_put_changes_only_the_fields_sent(client, new_part) -> None:
    created = new_part(**FULL)
    response = client.put(f"/api/parts/{created['key']}", json={"package": "SOT-23"})
    assert response.status_code == 200
    body = response.json
    assert body["package"] == "SOT-23"
    for name in FULL:
        if name != "package":
            assert body[name] == created[name], name
    assert body["updated_at"] >= created["updated_at"]
    assert client.get(f"/api/parts/{created['key']}").json == body


def test_put_explicit_null_clears_a_field(client, new_part) -> None:
    created = new_part(**FULL, type_id=_type_id(client, "Diode"))
    body = client.put(
        f"/api/parts/{created['key']}",
        json={"manufacturer": None, "pin_count": None, "type_id": None, "tags": None},
    ).json
    assert body["manufacturer"] is None
    assert body["pin_count"] is None
    assert body["type_id"] is None and body["type"] is None
    assert body["tags"] == []
    assert body["series"] == FULL["series"]


def test_put_blank_string_clears_a_field(client, new_part) -> None:
    created = new_part(**FULL)
    assert client.put(f"/api/parts/{created['key']}", json={"series": "  "}).json["series"] is None


def test_put_sets_the_type(client, new_part) -> None:
    created = new_part()
    type_id = _type_id(client, "Relay")
    body = client.put(f"/api/parts/{created['key']}", json={"type_id": type_id}).json
    assert body["type"] == {"id": type_id, "name": "Relay"}


def test_put_empty_body_changes_nothing(client, new_part) -> None:
    created = new_part(**FULL)
    body = client.put(f"/api/parts/{created['key']}", json={}).json
    assert {k: body[k] for k in FULL} == FULL


def test_put_cannot_clear_the_description(client, new_part, subtests) -> None:
    created = new_part()
    for description in (None, "", "   "):
        with subtests.test(msg=repr(description)):
            response = client.put(f"/api/parts/{created['key']}", json={"description": description})
            assert response.status_code == 400
            assert "description" in response.json["details"]["fields"]


def test_put_cannot_change_the_key(client, new_part) -> None:
    created = new_part()
    response = client.put(f"/api/parts/{created['key']}", json={"key": "ABCD"})
    assert response.status_code == 400
    assert "key" in response.json["details"]["fields"]


def test_put_unknown_type_is_404(client, new_part) -> None:
    created = new_part()
    assert client.put(f"/api/parts/{created['key']}", json={"type_id": 999999}).status_code == 404


def test_put_unknown_part_is_404(client) -> None:
    assert client.put("/api/parts/ZZZZ", json={"package": "x"}).status_code == 404


# --- delete ---------------------------------------------------------------------------------


def test_delete_removes_the_part_its_set_and_attachments(
    client, new_part, upload_png, in_app, events
) -> None:
    part = new_part()
    set_id = part["attachment_set_id"]
    upload_png(set_id, "red")
    upload_png(set_id, "blue")
    response = client.delete(f"/api/parts/{part['key']}")
    assert response.status_code == 204
    assert client.get(f"/api/parts/{part['key']}").status_code == 404
    assert client.get(f"/api/attachment-sets/{set_id}").status_code == 404
    with in_app():
        assert Attachment.select().where(Attachment.attachment_set == set_id).count() == 0
        assert AttachmentSet.select().where(AttachmentSet.id == set_id).count() == 0
    [event] = events.deleted
    assert (event["type"], event["attachment_set_id"]) == ("part", set_id)


def test_delete_unknown_part_is_404(client) -> None:
    assert client.delete("/api/parts/ZZZZ").status_code == 404


def test_delete_part_used_in_a_kit_is_409_naming_the_kits(
    client, new_part, new_kit, in_app
) -> None:
    part = new_part()
    with in_app():
        part_id = service.get_part(part["key"]).id
    for name in ("Blinky", "Radio"):
        kit = new_kit(name)
        client.post(f"/api/kits/{kit['id']}/contents", json={"part_id": part_id})
    response = client.delete(f"/api/parts/{part['key']}")
    assert response.status_code == 409
    assert response.json["code"] == "PART_IN_USE"
    assert "Blinky" in response.json["error"] and "Radio" in response.json["error"]
    assert len(response.json["details"]["blockers"]) == 2
    assert client.get(f"/api/parts/{part['key']}").status_code == 200


def test_delete_refused_by_a_database_constraint_is_409_not_500(
    client, new_part, new_kit, in_app, monkeypatch
) -> None:
    """A kit line added between the blocker check and the delete still gives a 409."""
    part = new_part()
    with in_app():
        part_id = service.get_part(part["key"]).id
    kit = new_kit()
    client.post(f"/api/kits/{kit['id']}/contents", json={"part_id": part_id})
    real = hook_calls.deletion_blockers
    answers: Iterator[list[str] | None] = iter([[], None])

    def late_blocker(pid: int) -> list[str]:
        answer = next(answers)
        return real(pid) if answer is None else answer

    monkeypatch.setattr(hook_calls, "deletion_blockers", late_blocker)
    response = client.delete(f"/api/parts/{part['key']}")
    assert response.status_code == 409
    assert response.json["code"] == "PART_IN_USE"
