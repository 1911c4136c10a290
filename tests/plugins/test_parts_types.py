"""Part types: seeding on first migrate, ``/api/types`` endpoints and their errors."""

from __future__ import annotations

from core.migrate import apply_migrations
from core.state import get_state

SEEDED = (
    "Resistor", "Capacitor", "Inductor", "Diode", "LED", "Transistor", "MOSFET", "IC",
    "Microcontroller", "Connector", "Crystal", "Relay", "Switch", "Sensor", "Module",
)


def _names(client) -> list[str]:
    return [row["name"] for row in client.get("/api/types").json]


def test_first_migrate_seeds_common_part_types(client) -> None:
    names = _names(client)
    assert set(SEEDED) <= set(names)
    assert names == sorted(names, key=str.lower)


def test_migrating_again_does_not_seed_twice(app, client) -> None:
    before = _names(client)
    with app.app_context():
        assert apply_migrations(get_state(app)).applied == []
    assert _names(client) == before


def test_list_without_stats_has_no_part_count(client) -> None:
    row = client.get("/api/types").json[0]
    assert set(row) == {"id", "name", "created_at", "updated_at"}


def test_include_stats_counts_parts_per_type(client, new_part) -> None:
    resistor = next(t for t in client.get("/api/types").json if t["name"] == "Resistor")
    new_part(type_id=resistor["id"])
    new_part(type_id=resistor["id"])
    rows = {t["name"]: t for t in client.get("/api/types?include_stats=true").json}
    assert rows["Resistor"]["part_count"] == 2
    assert rows["Capacitor"]["part_count"] == 0


def test_include_stats_rejects_a_non_boolean(client) -> None:
    response = client.get("/api/types?include_stats=maybe")
    assert response.status_code == 400
    assert "include_stats" in response.json["details"]["fields"]


def test_create_type(client) -> None:
    response = client.post("/api/types", json={"name": "  Varistor "})
    assert response.status_code == 201
    assert response.json["name"] == "Varistor"
    assert "Varistor" in _names(client)


def test_create_duplicate_name_ignoring_case_is_409(client) -> None:
    response = client.post("/api/types", json={"name": "resistor"})
    assert response.status_code == 409
    assert response.json["code"] == "TYPE_NAME_TAKEN"


def test_create_name_length_is_1_to_100(client) -> None:
    assert client.post("/api/types", json={"name": ""}).status_code == 400
    assert client.post("/api/types", json={"name": "   "}).status_code == 400
    assert client.post("/api/types", json={"name": "x" * 101}).status_code == 400
    assert client.post("/api/types", json={"name": "x" * 100}).status_code == 201


def test_create_rejects_unknown_fields(client) -> None:
    response = client.post("/api/types", json={"name": "Thing", "color": "red"})
    assert response.status_code == 400
    assert "color" in response.json["details"]["fields"]


def test_rename_type(client) -> None:
    created = client.post("/api/types", json={"name": "Thingy"}).json
    response = client.put(f"/api/types/{created['id']}", json={"name": "Gadget"})
    assert response.status_code == 200
    assert response.json == {**response.json, "id": created["id"], "name": "Gadget"}


def test_rename_to_own_name_in_other_case_is_allowed(client) -> None:
    created = client.post("/api/types", json={"name": "Thingy"}).json
    assert client.put(f"/api/types/{created['id']}", json={"name": "THINGY"}).status_code == 200


def test_rename_to_a_taken_name_is_409(client) -> None:
    created = client.post("/api/types", json={"name": "Thingy"}).json
    response = client.put(f"/api/types/{created['id']}", json={"name": "Diode"})
    assert response.status_code == 409
    assert response.json["code"] == "TYPE_NAME_TAKEN"


def test_rename_unknown_type_is_404(client) -> None:
    assert client.put("/api/types/999999", json={"name": "X"}).status_code == 404


def test_delete_unused_type(client) -> None:
    created = client.post("/api/types", json={"name": "Thingy"}).json
    assert client.delete(f"/api/types/{created['id']}").status_code == 204
    assert "Thingy" not in _names(client)
    assert client.delete(f"/api/types/{created['id']}").status_code == 404


def test_delete_type_in_use_is_409(client, new_part) -> None:
    created = client.post("/api/types", json={"name": "Thingy"}).json
    new_part(type_id=created["id"])
    response = client.delete(f"/api/types/{created['id']}")
    assert response.status_code == 409
    assert response.json["code"] == "TYPE_IN_USE"
    assert response.json["details"]["part_count"] == 1


def test_bad_type_ids_are_404_or_400_never_500(client) -> None:
    assert client.delete("/api/types/abc").status_code == 404
    assert client.delete("/api/types/-1").status_code == 404
    assert client.delete("/api/types/0").status_code == 400
    assert client.delete("/api/types/99999999999999").status_code == 400
