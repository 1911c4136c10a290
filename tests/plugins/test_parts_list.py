"""``GET /api/parts``: order, paging, type filter, ``include`` and their errors."""

from __future__ import annotations

import base64

from plugins.parts import service

BAD_QUERIES = [
    ("limit=0", "limit"),
    ("limit=1001", "limit"),
    ("limit=abc", "limit"),
    ("offset=-1", "offset"),
    ("type_id=0", "type_id"),
    ("type_id=x", "type_id"),
    ("type_id=99999999999", "type_id"),
]


def _keys(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["key"] for item in response.json]


def _type_id(client, name: str) -> int:
    return next(t["id"] for t in client.get("/api/types").json if t["name"] == name)


def _part_id(in_app, key: str) -> int:
    with in_app():
        return service.get_part(key).id


def test_list_is_newest_first(client, new_part) -> None:
    created = [new_part(description=f"p{i}")["key"] for i in range(3)]
    assert _keys(client.get("/api/parts")) == created[::-1]


def test_list_items_carry_cover_url_and_attachment_set_id(client, new_part, upload_png) -> None:
    plain, pictured = new_part(), new_part()
    upload_png(pictured["attachment_set_id"])
    items = {item["key"]: item for item in client.get("/api/parts").json}
    assert items[plain["key"]]["cover_url"] is None
    assert items[pictured["key"]]["cover_url"].startswith("/api/cas/")
    assert items[pictured["key"]]["attachment_set_id"] == pictured["attachment_set_id"]
    assert "kits" not in items[plain["key"]] and "in_stock" not in items[plain["key"]]


def test_limit_and_offset_page_through_the_list(client, new_part) -> None:
    created = [new_part()["key"] for _ in range(5)][::-1]
    assert _keys(client.get("/api/parts?limit=2")) == created[:2]
    assert _keys(client.get("/api/parts?limit=2&offset=2")) == created[2:4]
    assert _keys(client.get("/api/parts?limit=2&offset=4")) == created[4:]
    assert _keys(client.get("/api/parts?offset=10")) == []


def test_total_count_header_with_count_exact(client, new_part) -> None:
    for _ in range(3):
        new_part()
    assert client.get("/api/parts?limit=1&count=exact").headers["X-Total-Count"] == "3"


def test_total_count_header_is_free_on_a_short_page(client, new_part) -> None:
    for _ in range(3):
        new_part()
    assert client.get("/api/parts?limit=2&offset=2").headers["X-Total-Count"] == "3"


def test_full_page_without_count_exact_has_no_total(client, new_part) -> None:
    for _ in range(3):
        new_part()
    assert "X-Total-Count" not in client.get("/api/parts?limit=2").headers


def test_empty_page_past_the_end_has_no_total(client, new_part) -> None:
    new_part()
    assert "X-Total-Count" not in client.get("/api/parts?offset=5").headers


def _walk_cursor(client, first_url: str) -> tuple[list[str], int]:
    """Follow Link rel=next from ``first_url``; return the keys seen and the page count."""
    seen: list[str] = []
    url: str | None = first_url
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        seen += _keys(response)
        pages += 1
        link = response.headers.get("Link")
        url = link.split(">", 1)[0].lstrip("<") if link else None
        if url is not None:
            assert response.headers["X-Next-Cursor"] in url
    return seen, pages


def test_cursor_pages_cover_the_list_once_in_order(client, new_part) -> None:
    created = [new_part()["key"] for _ in range(7)][::-1]
    seen, pages = _walk_cursor(client, "/api/parts?limit=3")
    assert seen == created
    assert pages == 3


def test_cursor_pages_are_stable_under_concurrent_inserts(client, new_part) -> None:
    created = [new_part()["key"] for _ in range(6)][::-1]
    first = client.get("/api/parts?limit=2")
    new_part()  # newer than everything: must not shift the pages that follow
    url = first.headers["Link"].split(">", 1)[0].lstrip("<")
    rest, _pages = _walk_cursor(client, url)
    assert _keys(first) + rest == created


def test_cursor_keeps_the_type_filter(client, new_part) -> None:
    led = _type_id(client, "LED")
    leds = [new_part(type_id=led)["key"] for _ in range(3)][::-1]
    new_part()
    seen, _pages = _walk_cursor(client, f"/api/parts?limit=2&type_id={led}")
    assert seen == leds


def test_bad_cursor_is_400(client, subtests) -> None:
    huge_id = base64.urlsafe_b64encode(b"2026-01-01T00:00:00|99999999999999999999").decode()
    for query in ("cursor=nope", "cursor=" + "A" * 101, "cursor=MjAyNnwx&offset=3",
                  f"cursor={huge_id}"):
        with subtests.test(query=query):
            response = client.get(f"/api/parts?{query}")
            assert response.status_code == 400
            assert set(response.json) == {"error", "details", "code"}


def test_type_filter(client, new_part) -> None:
    led, diode = _type_id(client, "LED"), _type_id(client, "Diode")
    red = new_part(type_id=led)["key"]
    new_part(type_id=diode)
    new_part()
    response = client.get(f"/api/parts?type_id={led}")
    assert _keys(response) == [red]
    assert response.headers["X-Total-Count"] == "1"
    assert len(_keys(client.get("/api/parts?type_id="))) == 3


def test_bad_paging_or_filter_is_400_naming_the_field(client, subtests) -> None:
    for query, field in BAD_QUERIES:
        with subtests.test(msg=query):
            response = client.get(f"/api/parts?{query}")
            assert response.status_code == 400
            assert field in response.json["details"]["fields"]


def test_limit_1000_is_accepted(client) -> None:
    assert client.get("/api/parts?limit=1000").status_code == 200


def test_unknown_include_token_is_400_naming_it(client) -> None:
    response = client.get("/api/parts?include=cover,bogus")
    assert response.status_code == 400
    assert "bogus" in response.json["details"]["fields"]["include"]


def test_more_than_ten_include_tokens_is_400(client) -> None:
    response = client.get("/api/parts?include=" + ",".join(["cover"] * 11))
    assert response.status_code == 400
    assert "at most 10" in response.json["details"]["fields"]["include"]


def test_include_longer_than_200_characters_is_400(client) -> None:
    response = client.get("/api/parts?include=" + "cover," * 33 + "kits")
    assert response.status_code == 400
    assert "200" in response.json["details"]["fields"]["include"]


def test_known_include_tokens_with_spaces_and_empty_items_are_accepted(client) -> None:
    assert client.get("/api/parts?include= cover ,,kits,stock").status_code == 200
    assert client.get("/api/parts?include=").status_code == 200


def test_include_kits_lists_each_parts_kit_usages(client, new_part, new_kit, in_app) -> None:
    used, unused = new_part(), new_part()
    part_id = _part_id(in_app, used["key"])
    active = new_kit("Active", build_target=3)
    archived = new_kit("Archived", build_target=5)
    for kit, per_unit in ((active, 2), (archived, 4)):
        client.post(
            f"/api/kits/{kit['id']}/contents",
            json={"part_id": part_id, "required_per_unit": per_unit},
        )
    client.post(f"/api/kits/{archived['id']}/archive")
    items = {item["key"]: item for item in client.get("/api/parts?include=kits").json}
    assert items[unused["key"]]["kits"] == []
    usages = items[used["key"]]["kits"]
    assert [u["kit_name"] for u in usages] == ["Active", "Archived"]
    first, second = usages
    assert first == {
        "kit_id": active["id"],
        "kit_name": "Active",
        "status": "active",
        "build_target": 3,
        "required_per_unit": 2,
        "reserved_quantity": 6,
        "updated_at": first["updated_at"],
    }
    assert second["status"] == "archived"
    assert second["reserved_quantity"] == 0
    assert isinstance(first["updated_at"], str)


def test_include_stock_adds_in_stock(client, new_part, in_app, stock) -> None:
    stocked, empty = new_part(), new_part()
    stock.levels[_part_id(in_app, stocked["key"])] = 7
    items = {item["key"]: item for item in client.get("/api/parts?include=stock").json}
    assert items[stocked["key"]]["in_stock"] == 7
    assert items[empty["key"]]["in_stock"] == 0


def test_part_kits_endpoint(client, new_part, new_kit, in_app) -> None:
    part = new_part()
    kit = new_kit("Blinky", build_target=2)
    client.post(
        f"/api/kits/{kit['id']}/contents",
        json={"part_id": _part_id(in_app, part["key"]), "required_per_unit": 3},
    )
    response = client.get(f"/api/parts/{part['key']}/kits")
    assert response.status_code == 200
    assert response.json == [
        {
            "kit_id": kit["id"],
            "kit_name": "Blinky",
            "status": "active",
            "build_target": 2,
            "required_per_unit": 3,
            "reserved_quantity": 6,
            "updated_at": response.json[0]["updated_at"],
        }
    ]


def test_part_kits_of_an_unused_part_is_empty(client, new_part) -> None:
    assert client.get(f"/api/parts/{new_part()['key']}/kits").json == []


def test_part_kits_errors(client) -> None:
    assert client.get("/api/parts/ZZZZ/kits").status_code == 404
    assert client.get("/api/parts/zz/kits").status_code == 400
