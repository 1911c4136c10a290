"""Kit content lines: add, patch (optimistic locking), delete, stock numbers, parts hooks."""

from __future__ import annotations

import pytest

from core.state import get_state
from plugins.parts.service import get_part
from tests.plugins.conftest import StockPlugin

BAD_ADD_BODIES = [
    ({}, "part_id"),
    ({"part_id": 0}, "part_id"),
    ({"part_id": 2**40}, "part_id"),
    ({"part_id": 1, "required_per_unit": 0}, "required_per_unit"),
    ({"part_id": 1, "required_per_unit": 10**9}, "required_per_unit"),
    ({"part_id": 1, "note": "n" * 10_001}, "note"),
    ({"part_id": 1, "version": 3}, "version"),
]
BAD_PATCH_BODIES = [
    ({"version": 1, "required_per_unit": 0}, "required_per_unit"),
    ({"version": 1, "required_per_unit": None}, "required_per_unit"),
    ({"version": 0, "note": "x"}, "version"),
    ({"note": "x"}, "version"),
    ({"version": 1, "part_id": 3}, "part_id"),
]
BAD_CONTENT_IDS = [("999999", 404), ("abc", 404), ("-1", 404), ("0", 400), ("99999999999", 400)]
NUMBERS = ("total_required", "in_stock", "reserved", "available", "shortfall")


@pytest.fixture
def part_id(new_part, in_app):
    """``part_id(**fields)`` creates a part and returns its database id."""

    def _make(**fields) -> int:
        key = new_part(**fields)["key"]
        with in_app():
            return get_part(key).id

    return _make


def _add(client, kit_id: int, part_id: int, **fields):
    return client.post(f"/api/kits/{kit_id}/contents", json={"part_id": part_id, **fields})


def _numbers(line: dict) -> dict:
    return {name: line[name] for name in NUMBERS}


# --- add ----------------------------------------------------------------------------------


def test_add_content_returns_201_with_the_line(
    client, new_kit, new_part, in_app, upload_png
) -> None:
    part = new_part(description="LED red", manufacturer_code="L-1")
    upload_png(part["attachment_set_id"])
    with in_app():
        pid = get_part(part["key"]).id
    kit = new_kit(build_target=3)
    response = _add(client, kit["id"], pid, required_per_unit=2, note=" two ")
    assert response.status_code == 201
    line = response.json
    assert line["part_id"] == pid
    assert line["part"]["key"] == part["key"]
    assert line["part"]["description"] == "LED red"
    assert line["part"]["manufacturer_code"] == "L-1"
    assert line["part"]["cover_url"].startswith("/api/cas/")
    assert (line["required_per_unit"], line["note"], line["version"]) == (2, "two", 1)
    assert line["total_required"] == 6
    assert client.get(f"/api/kits/{kit['id']}").json["contents"] == [line]


def test_add_defaults_required_per_unit_to_1(client, new_kit, part_id) -> None:
    line = _add(client, new_kit()["id"], part_id()).json
    assert line["required_per_unit"] == 1
    assert line["note"] is None


def test_add_same_part_twice_is_409(client, new_kit, part_id) -> None:
    kit, pid = new_kit(), part_id()
    _add(client, kit["id"], pid)
    response = _add(client, kit["id"], pid, required_per_unit=4)
    assert response.status_code == 409
    assert response.json["code"] == "PART_ALREADY_IN_KIT"


def test_add_to_archived_kit_is_409(client, new_kit, part_id) -> None:
    kit = new_kit()
    client.post(f"/api/kits/{kit['id']}/archive")
    response = _add(client, kit["id"], part_id())
    assert response.status_code == 409
    assert response.json["code"] == "KIT_ARCHIVED"


def test_add_unknown_part_is_404(client, new_kit) -> None:
    response = _add(client, new_kit()["id"], 999999)
    assert response.status_code == 404
    assert "999999" in response.json["error"]


def test_add_to_unknown_kit_is_404(client, part_id) -> None:
    assert _add(client, 999999, part_id()).status_code == 404


def test_add_validation_errors_are_400_naming_the_field(client, new_kit, subtests) -> None:
    kit = new_kit()
    for body, field in BAD_ADD_BODIES:
        with subtests.test(msg=repr(body)[:60]):
            response = client.post(f"/api/kits/{kit['id']}/contents", json=body)
            assert response.status_code == 400
            assert field in response.json["details"]["fields"]


# --- patch --------------------------------------------------------------------------------


def test_patch_bumps_the_version(client, new_kit, part_id) -> None:
    kit = new_kit(build_target=2)
    line = _add(client, kit["id"], part_id()).json
    url = f"/api/kits/{kit['id']}/contents/{line['id']}"
    body = client.patch(url, json={"version": 1, "required_per_unit": 5}).json
    assert (body["version"], body["required_per_unit"], body["total_required"]) == (2, 5, 10)
    body = client.patch(url, json={"version": 2, "note": "spare"}).json
    assert (body["version"], body["note"], body["required_per_unit"]) == (3, "spare", 5)
    body = client.patch(url, json={"version": 3, "note": None}).json
    assert (body["version"], body["note"]) == (4, None)


def test_patch_with_a_stale_version_is_409(client, new_kit, part_id) -> None:
    kit = new_kit()
    line = _add(client, kit["id"], part_id()).json
    url = f"/api/kits/{kit['id']}/contents/{line['id']}"
    client.patch(url, json={"version": 1, "required_per_unit": 2})
    response = client.patch(url, json={"version": 1, "required_per_unit": 3})
    assert response.status_code == 409
    assert response.json["code"] == "VERSION_CONFLICT"
    assert response.json["details"]["current_version"] == 2
    assert client.get(f"/api/kits/{kit['id']}").json["contents"][0]["required_per_unit"] == 2


def test_patch_without_change_is_409(client, new_kit, part_id) -> None:
    kit = new_kit()
    line = _add(client, kit["id"], part_id(), required_per_unit=2).json
    response = client.patch(
        f"/api/kits/{kit['id']}/contents/{line['id']}",
        json={"version": 1, "required_per_unit": 2},
    )
    assert response.status_code == 409
    assert response.json["code"] == "NO_CHANGES"


def test_patch_validation_errors_are_400_naming_the_field(
    client, new_kit, part_id, subtests
) -> None:
    kit = new_kit()
    line = _add(client, kit["id"], part_id()).json
    for body, field in BAD_PATCH_BODIES:
        with subtests.test(msg=repr(body)):
            response = client.patch(f"/api/kits/{kit['id']}/contents/{line['id']}", json=body)
            assert response.status_code == 400
            assert field in response.json["details"]["fields"]


def test_patch_in_archived_kit_is_409(client, new_kit, part_id) -> None:
    kit = new_kit()
    line = _add(client, kit["id"], part_id()).json
    client.post(f"/api/kits/{kit['id']}/archive")
    response = client.patch(
        f"/api/kits/{kit['id']}/contents/{line['id']}", json={"version": 1, "note": "x"}
    )
    assert response.status_code == 409
    assert response.json["code"] == "KIT_ARCHIVED"


def test_content_of_another_kit_is_404(client, new_kit, part_id) -> None:
    kit, other = new_kit("A"), new_kit("B")
    line = _add(client, kit["id"], part_id()).json
    url = f"/api/kits/{other['id']}/contents/{line['id']}"
    assert client.patch(url, json={"version": 1, "note": "x"}).status_code == 404
    assert client.delete(url).status_code == 404


def test_bad_or_unknown_content_ids_are_4xx_never_500(client, new_kit, subtests) -> None:
    kit = new_kit()
    for content_id, status in BAD_CONTENT_IDS:
        with subtests.test(msg=content_id):
            url = f"/api/kits/{kit['id']}/contents/{content_id}"
            assert client.patch(url, json={"version": 1, "note": "x"}).status_code == status
            assert client.delete(url).status_code == status


# --- delete -------------------------------------------------------------------------------


def test_delete_content(client, new_kit, part_id) -> None:
    kit = new_kit()
    line = _add(client, kit["id"], part_id()).json
    assert client.delete(f"/api/kits/{kit['id']}/contents/{line['id']}").status_code == 204
    assert client.get(f"/api/kits/{kit['id']}").json["contents"] == []


def test_delete_content_of_archived_kit_is_409(client, new_kit, part_id) -> None:
    kit = new_kit()
    line = _add(client, kit["id"], part_id()).json
    client.post(f"/api/kits/{kit['id']}/archive")
    response = client.delete(f"/api/kits/{kit['id']}/contents/{line['id']}")
    assert response.status_code == 409
    assert response.json["code"] == "KIT_ARCHIVED"


def test_content_changes_touch_the_kit(client, new_kit, part_id) -> None:
    kit = new_kit()
    before = client.get(f"/api/kits/{kit['id']}").json["updated_at"]
    _add(client, kit["id"], part_id())
    assert client.get(f"/api/kits/{kit['id']}").json["updated_at"] > before


# --- stock numbers ------------------------------------------------------------------------


def test_stock_numbers_without_stock_are_zero(client, new_kit, part_id) -> None:
    kit = new_kit(build_target=2)
    line = _add(client, kit["id"], part_id(), required_per_unit=3).json
    assert _numbers(line) == {
        "total_required": 6, "in_stock": 0, "reserved": 0, "available": 0, "shortfall": 6,
    }


def test_reserved_counts_other_active_kits_only(client, new_kit, part_id, stock) -> None:
    pid = part_id()
    stock.levels[pid] = 20
    mine = new_kit("Mine", build_target=2)
    other = new_kit("Other", build_target=3)
    shelved = new_kit("Shelved", build_target=100)
    _add(client, mine["id"], pid, required_per_unit=4)
    _add(client, other["id"], pid, required_per_unit=2)
    _add(client, shelved["id"], pid, required_per_unit=1)
    client.post(f"/api/kits/{shelved['id']}/archive")
    line = client.get(f"/api/kits/{mine['id']}").json["contents"][0]
    # Other reserves 2 x 3; Shelved is archived; Mine itself is not counted.
    assert _numbers(line) == {
        "total_required": 8, "in_stock": 20, "reserved": 6, "available": 14, "shortfall": 0,
    }


def test_shortfall_when_not_enough_is_available(client, new_kit, part_id, stock) -> None:
    pid = part_id()
    stock.levels[pid] = 5
    mine, other = new_kit("Mine", build_target=3), new_kit("Other", build_target=1)
    _add(client, mine["id"], pid, required_per_unit=2)
    _add(client, other["id"], pid, required_per_unit=4)
    line = client.get(f"/api/kits/{mine['id']}").json["contents"][0]
    assert (line["available"], line["shortfall"]) == (1, 5)


def test_available_is_never_negative(client, new_kit, part_id, stock) -> None:
    pid = part_id()
    stock.levels[pid] = 1
    mine, other = new_kit("Mine"), new_kit("Other", build_target=10)
    _add(client, mine["id"], pid)
    _add(client, other["id"], pid)
    line = client.get(f"/api/kits/{mine['id']}").json["contents"][0]
    assert (line["reserved"], line["available"], line["shortfall"]) == (10, 0, 1)


def test_several_stock_plugins_add_up(app, client, new_kit, part_id, stock) -> None:
    second = StockPlugin()
    get_state(app).plugin_manager.register(second, name="second-stock")
    pid = part_id()
    stock.levels[pid], second.levels[pid] = 2, 3
    assert _add(client, new_kit()["id"], pid).json["in_stock"] == 5


# --- the hooks the parts plugin asks ------------------------------------------------------


def test_part_kit_usages_hook(client, app, new_kit, part_id, in_app) -> None:
    used, unused = part_id(), part_id()
    kit = new_kit("Blinky", build_target=4)
    _add(client, kit["id"], used, required_per_unit=2)
    with in_app():
        answers = get_state(app).plugin_manager.hook.part_kit_usages(part_ids=[used, unused])
    [usages] = [answer for answer in answers if answer]
    assert set(usages) == {used}
    assert usages[used][0]["reserved_quantity"] == 8
    assert usages[used][0]["kit_name"] == "Blinky"


def test_part_deletion_blockers_hook_names_active_and_archived_kits(
    client, app, new_kit, part_id, in_app
) -> None:
    pid = part_id()
    for name in ("Zeta", "Alpha"):
        kit = new_kit(name)
        _add(client, kit["id"], pid)
    client.post(f"/api/kits/{kit['id']}/archive")
    with in_app():
        answers = get_state(app).plugin_manager.hook.part_deletion_blockers(part_id=pid)
    reasons = [reason for answer in answers for reason in answer]
    assert len(reasons) == 2
    assert "Alpha" in reasons[0] and "Zeta" in reasons[1]


def test_part_can_be_deleted_once_removed_from_every_kit(
    client, new_kit, new_part, in_app
) -> None:
    part = new_part()
    with in_app():
        pid = get_part(part["key"]).id
    kit = new_kit()
    line = _add(client, kit["id"], pid).json
    assert client.delete(f"/api/parts/{part['key']}").status_code == 409
    client.delete(f"/api/kits/{kit['id']}/contents/{line['id']}")
    assert client.delete(f"/api/parts/{part['key']}").status_code == 204
