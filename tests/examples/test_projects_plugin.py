"""The example plugin ``examples/partsbin-projects``, installed and used as a stranger would.

A session fixture pip-installs the distribution (editable) into the running venv; from then on
every app built in this session loads it through its ``partsbin`` entry point, exactly as after
``pip install partsbin-projects``. The tests then check the plugin's promises: its migrations
(version 1 without attachments, version 2 with them) and the core's backfill over existing rows,
the ``/api/projects`` routes, and the project's AttachmentSet managed by the core (eager creation,
cover, owner, deletion). Database tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import importlib.metadata
import importlib.util
import io
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import peewee
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from packaging.version import Version
from PIL import Image
from werkzeug.test import TestResponse

from core.cli import cli
from core.migrate import apply_migrations
from core.migrations_runner import Migrations, MigrationSource
from core.plugins import collect_list, describe_plugins, hookimpl
from core.state import get_state

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "partsbin-projects"
DISTRIBUTION = "partsbin-projects"
ENTRY_POINT = "projects"
HOOKS = ["register_attachable_entities", "register_blueprints", "register_migrations"]


# --- installing the distribution -------------------------------------------------------------


def _example_version() -> str:
    with (EXAMPLE / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def _installed_from_example() -> importlib.metadata.Distribution | None:
    """The installed distribution if it is this checkout's example in its current version,
    installed editable (so later edits need no reinstall); else ``None``."""
    importlib.invalidate_caches()
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    origin = json.loads(dist.read_text("direct_url.json") or "{}")
    if (
        dist.version == _example_version()
        and origin.get("url") == EXAMPLE.as_uri()
        and origin.get("dir_info", {}).get("editable")
    ):
        return dist
    return None


def _can_build_offline() -> bool:
    """Whether this venv's setuptools builds an editable wheel without downloading anything
    (setuptools >= 70.1 on its own, older ones with the ``wheel`` package)."""
    try:
        setuptools_version = Version(importlib.metadata.version("setuptools"))
    except importlib.metadata.PackageNotFoundError:
        return False
    if setuptools_version >= Version("70.1"):
        return True
    return setuptools_version >= Version("64") and importlib.util.find_spec("wheel") is not None


def _pip_install_example() -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    if _can_build_offline():
        command.append("--no-build-isolation")
    # Otherwise pip builds in an isolated environment, fetching setuptools and wheel once.
    command += ["--editable", str(EXAMPLE)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session", autouse=True)
def projects_distribution() -> importlib.metadata.Distribution:
    """``partsbin-projects`` installed editable into this venv, importable in this process.

    Skips pip when the installed distribution already is this checkout's example in its current
    version. A file lock keeps concurrent test sessions on one venv from installing at once.
    """
    with (Path(sys.prefix) / ".partsbin-projects-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dist = _installed_from_example()
        if dist is None:
            _pip_install_example()
            dist = _installed_from_example()
    assert dist is not None, f"{DISTRIBUTION} is not installed from {EXAMPLE} after pip install"
    assert ENTRY_POINT in importlib.metadata.entry_points(group="partsbin").names
    if importlib.util.find_spec("partsbin_projects") is None:
        # Installed during this session: read the new editable-install .pth file, as a new
        # interpreter would at start-up.
        site.addsitedir(sysconfig.get_path("purelib"))
        importlib.invalidate_caches()
    return dist


# --- fixtures and helpers --------------------------------------------------------------------


class EventRecorder:
    """A plugin that records ``entity_deleted`` events."""

    def __init__(self) -> None:
        self.deleted: list[tuple[str, int, int]] = []

    @hookimpl
    def entity_deleted(self, entity_type: str, entity_id: int, attachment_set_id: int) -> None:
        self.deleted.append((entity_type, entity_id, attachment_set_id))


@pytest.fixture
def events() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def app_plugins(events: EventRecorder) -> list[object]:
    """Every app of this module also records events (the example arrives by entry point)."""
    return [events]


def _json(response: TestResponse) -> Any:
    """The response's JSON body, typed ``Any`` so tests can index into it."""
    return response.get_json()


def _png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


def _cas_url(content: bytes) -> str:
    return f"/api/cas/{hashlib.sha256(content).hexdigest()}"


def _create(client: FlaskClient, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/projects", json={"name": name, **fields})
    assert response.status_code == 201, _json(response)
    return _json(response)


def _upload(
    client: FlaskClient, set_id: int, content: bytes, title: str = "photo"
) -> dict[str, Any]:
    response = client.post(
        f"/api/attachment-sets/{set_id}/attachments",
        data={"file": (io.BytesIO(content), f"{title}.png"), "title": title},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, _json(response)
    return _json(response)


def _projects_source(app: Flask) -> MigrationSource:
    """The migration source the plugin registered in this app."""
    sources = [s for _p, s in collect_list(get_state(app).plugin_manager, "register_migrations")]
    return next(source for source in sources if source.name == "projects")


def _rows(database: peewee.Database, sql: str) -> list[tuple[Any, ...]]:
    return list(database.execute_sql(sql).fetchall())


@pytest.fixture
def version_1_app(unmigrated_app: Flask, tmp_path: Path) -> Flask:
    """An app whose database is as version 1 of the plugin left it: every source migrated, but
    projects only up to ``001_initial`` (no attachment column), with two projects in it."""
    projects = _projects_source(unmigrated_app)
    version_1 = tmp_path / "projects-v1-migrations"
    version_1.mkdir()
    shutil.copy(projects.path / "001_initial.py", version_1)
    state = get_state(unmigrated_app)
    sources = [
        replace(source, path=version_1) if source.name == "projects" else source
        for _plugin, source in collect_list(state.plugin_manager, "register_migrations")
    ]
    Migrations(state.database, sources).upgrade()
    database, p = state.database, state.database.param
    with database.atomic():
        for name in ("Nixie clock", "Weather station"):
            database.execute_sql(
                "INSERT INTO projects (name, description, status, created_at, updated_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (name, "", "idea", "2024-01-01 00:00:00", "2024-01-01 00:00:00"),
            )
    return unmigrated_app


# --- installation and loading ----------------------------------------------------------------


def test_distribution_declares_the_partsbin_entry_point(
    projects_distribution: importlib.metadata.Distribution,
) -> None:
    points = [ep for ep in projects_distribution.entry_points if ep.group == "partsbin"]
    assert [(ep.name, ep.value) for ep in points] == [(ENTRY_POINT, "partsbin_projects.plugin")]
    assert ENTRY_POINT in importlib.metadata.entry_points(group="partsbin").names
    module = points[0].load()
    assert all(callable(getattr(module, hook)) for hook in HOOKS)


def test_migrations_ship_inside_the_package() -> None:
    plugin = importlib.import_module("partsbin_projects.plugin")
    folder = plugin.MIGRATIONS.path
    assert plugin.__file__ is not None
    assert folder.parent == Path(plugin.__file__).resolve().parent
    assert sorted(p.name for p in folder.glob("*.py")) == ["001_initial.py", "002_attachments.py"]
    assert plugin.MIGRATIONS.table == "migratehistory_projects"


def test_every_app_loads_the_plugin_with_its_distribution(app: Flask) -> None:
    rows = {row["name"]: row for row in describe_plugins(get_state(app).plugin_manager)}
    assert rows[ENTRY_POINT]["distribution"] == f"{DISTRIBUTION} {_example_version()}"
    assert rows[ENTRY_POINT]["hooks"] == HOOKS


def test_plugins_command_in_a_new_interpreter_lists_the_plugin(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path / 'blobs'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from core.cli import main; main()", "plugins"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = f"{ENTRY_POINT}  ({DISTRIBUTION} {_example_version()})"
    assert header in lines
    start = lines.index(header) + 1
    assert [line.strip() for line in lines[start : start + len(HOOKS)]] == HOOKS


# --- migrations and the backfill -------------------------------------------------------------


def test_backfill_gives_each_version_1_project_its_own_set(version_1_app: Flask) -> None:
    state = get_state(version_1_app)
    with version_1_app.app_context():
        report = apply_migrations(state)
    assert report.applied == ["projects:002_attachments"]
    assert report.backfilled["project"] == 2
    set_ids = [row[0] for row in _rows(state.database, "SELECT attachment_set_id FROM projects")]
    assert None not in set_ids
    assert len(set(set_ids)) == 2
    existing = _rows(state.database, "SELECT id FROM attachment_sets")
    assert set(set_ids) <= {row[0] for row in existing}


def test_backfill_a_second_time_finds_nothing_to_do(version_1_app: Flask) -> None:
    state = get_state(version_1_app)
    with version_1_app.app_context():
        apply_migrations(state)
        again = apply_migrations(state)
    assert again.applied == []
    assert again.backfilled["project"] == 0


def test_migrate_command_reports_the_backfill(version_1_app: Flask) -> None:
    result = version_1_app.test_cli_runner().invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "applied projects:002_attachments" in result.output
    assert "backfilled 2 attachment set(s) for project" in result.output


def test_backfilled_projects_are_served_with_their_sets(version_1_app: Flask) -> None:
    with version_1_app.app_context():
        apply_migrations(get_state(version_1_app))
    client = version_1_app.test_client()
    listed = _json(client.get("/api/projects"))
    assert {p["name"] for p in listed} == {"Nixie clock", "Weather station"}
    for project in listed:
        owner = _json(client.get(f"/api/attachment-sets/{project['attachment_set_id']}"))["owner"]
        assert owner == {"type": "project", "id": project["id"], "key": project["id"]}


def test_rolling_back_the_plugin_removes_its_sets_then_its_table(
    app: Flask, client: FlaskClient
) -> None:
    kept = _create(client, "Kept")
    _upload(client, kept["attachment_set_id"], _png("red"))
    state = get_state(app)
    migrations = Migrations(state.database, [_projects_source(app)])

    assert migrations.rollback(1) == ["projects:002_attachments"]
    assert "attachment_set_id" not in {c.name for c in state.database.get_columns("projects")}
    assert _rows(state.database, "SELECT name FROM projects") == [("Kept",)]
    assert client.get(f"/api/attachment-sets/{kept['attachment_set_id']}").status_code == 404
    assert _rows(state.database, "SELECT id FROM attachments") == []

    assert migrations.rollback(1) == ["projects:001_initial"]
    assert "projects" not in state.database.get_tables()

    assert migrations.upgrade() == ["projects:001_initial", "projects:002_attachments"]
    assert _create(client, "Again")["name"] == "Again"


# --- /api/projects ---------------------------------------------------------------------------


def test_create_answers_201_with_a_new_empty_set(client: FlaskClient) -> None:
    project = _create(client, "  Nixie clock ", description="IN-14 tubes", status="building")
    assert project["name"] == "Nixie clock"
    assert project["description"] == "IN-14 tubes"
    assert project["status"] == "building"
    assert project["cover_url"] is None
    attachment_set = _json(client.get(f"/api/attachment-sets/{project['attachment_set_id']}"))
    assert attachment_set["attachments"] == []
    assert attachment_set["owner"] == {"type": "project", "id": project["id"], "key": project["id"]}


def test_each_project_gets_a_set_of_its_own(client: FlaskClient) -> None:
    first, second = _create(client, "One"), _create(client, "Two")
    assert first["attachment_set_id"] != second["attachment_set_id"]


def test_create_defaults_description_and_status(client: FlaskClient) -> None:
    project = _create(client, "Bare")
    assert (project["description"], project["status"]) == ("", "idea")


def test_first_image_becomes_the_cover_of_project_and_list(client: FlaskClient) -> None:
    project = _create(client, "Clock")
    image = _png("red")
    _upload(client, project["attachment_set_id"], image)
    assert _json(client.get(f"/api/projects/{project['id']}"))["cover_url"] == _cas_url(image)
    listed = {p["id"]: p for p in _json(client.get("/api/projects"))}
    assert listed[project["id"]]["cover_url"] == _cas_url(image)


def test_setting_the_cover_changes_the_project_cover_url(client: FlaskClient) -> None:
    project = _create(client, "Clock")
    set_id = project["attachment_set_id"]
    _upload(client, set_id, _png("red"), "front")
    back = _png("blue")
    back_id = _upload(client, set_id, back, "back")["id"]
    response = client.put(f"/api/attachment-sets/{set_id}/cover", json={"attachment_id": back_id})
    assert response.status_code == 200, _json(response)
    assert _json(client.get(f"/api/projects/{project['id']}"))["cover_url"] == _cas_url(back)
    listed = {p["id"]: p for p in _json(client.get("/api/projects"))}
    assert listed[project["id"]]["cover_url"] == _cas_url(back)


def test_list_is_newest_first(client: FlaskClient) -> None:
    ids = [_create(client, name)["id"] for name in ("A", "B", "C")]
    assert [p["id"] for p in _json(client.get("/api/projects"))] == ids[::-1]


def test_list_is_empty_without_projects(client: FlaskClient) -> None:
    response = client.get("/api/projects")
    assert response.status_code == 200
    assert _json(response) == []


def test_patch_changes_only_the_given_fields(client: FlaskClient) -> None:
    project = _create(client, "Clock", description="tubes")
    response = client.patch(f"/api/projects/{project['id']}", json={"status": "done"})
    assert response.status_code == 200, _json(response)
    changed = _json(response)
    assert changed["name"] == "Clock"
    assert changed["description"] == "tubes"
    assert changed["status"] == "done"
    assert changed["attachment_set_id"] == project["attachment_set_id"]
    assert changed["updated_at"] > project["updated_at"]
    assert _json(client.get(f"/api/projects/{project['id']}")) == changed


def test_patch_refuses_null_naming_the_field(client: FlaskClient) -> None:
    project = _create(client, "Clock")
    response = client.patch(f"/api/projects/{project['id']}", json={"name": None})
    assert response.status_code == 400
    assert "name" in _json(response)["details"]["fields"]


def test_duplicate_name_is_a_409_on_create(client: FlaskClient) -> None:
    _create(client, "Clock")
    response = client.post("/api/projects", json={"name": "Clock"})
    assert response.status_code == 409
    assert _json(response)["code"] == "PROJECT_NAME_TAKEN"
    assert "'Clock'" in _json(response)["error"]
    assert len(_json(client.get("/api/projects"))) == 1


def test_duplicate_name_is_a_409_on_patch(client: FlaskClient) -> None:
    _create(client, "Clock")
    other = _create(client, "Radio")
    response = client.patch(f"/api/projects/{other['id']}", json={"name": "Clock"})
    assert response.status_code == 409
    assert _json(response)["code"] == "PROJECT_NAME_TAKEN"


def test_empty_patch_changes_nothing(client: FlaskClient) -> None:
    project = _create(client, "Clock")
    response = client.patch(f"/api/projects/{project['id']}", json={})
    assert response.status_code == 200
    assert _json(response) == project


def test_renaming_a_project_to_its_own_name_is_fine(client: FlaskClient) -> None:
    project = _create(client, "Clock")
    response = client.patch(f"/api/projects/{project['id']}", json={"name": "Clock"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Clock", "status": "abandoned"}, "status"),
        ({"name": "Clock", "attachment_set_id": 1}, "attachment_set_id"),
        ({}, "name"),
    ],
    ids=["blank-name", "long-name", "unknown-status", "unknown-field", "missing-name"],
)
def test_invalid_create_body_is_a_400_naming_the_field(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/projects", json=body)
    assert response.status_code == 400
    assert _json(response)["code"] == "VALIDATION_ERROR"
    assert field in _json(response)["details"]["fields"]


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_project_is_a_404(client: FlaskClient, method: str) -> None:
    response = getattr(client, method)("/api/projects/4242", json={"status": "done"})
    assert response.status_code == 404
    assert _json(response)["error"] == "project 4242 does not exist"


def test_delete_removes_the_project_its_set_and_attachments(
    app: Flask, client: FlaskClient, events: EventRecorder
) -> None:
    project = _create(client, "Clock")
    set_id = project["attachment_set_id"]
    _upload(client, set_id, _png("red"), "front")
    _upload(client, set_id, _png("blue"), "back")

    assert client.delete(f"/api/projects/{project['id']}").status_code == 204

    assert client.get(f"/api/projects/{project['id']}").status_code == 404
    assert client.get(f"/api/attachment-sets/{set_id}").status_code == 404
    database = get_state(app).database
    sql = f"SELECT count(*) FROM attachments WHERE attachment_set_id = {int(set_id)}"
    assert _rows(database, sql) == [(0,)]
    assert events.deleted == [("project", project["id"], set_id)]


def test_openapi_document_describes_the_project_routes(client: FlaskClient) -> None:
    document = _json(client.get("/api/docs/openapi.json"))
    validate(document)
    assert set(document["paths"]["/api/projects"]) == {"get", "post"}
    assert set(document["paths"]["/api/projects/{project_id}"]) == {"get", "patch", "delete"}


# --- the plugin's own test suite, run as its author would --------------------------------------


def test_the_plugins_own_tests_pass_with_the_core_fixtures(postgres_server: Any) -> None:
    """``pytest examples/partsbin-projects/tests`` in a new interpreter: the fixtures come from
    the ``core.testing`` pytest plugin (entry point ``pytest11``), on SQLite and PostgreSQL."""
    env = {**os.environ, "PARTSBIN_TEST_POSTGRES_URL": postgres_server._admin_url()}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            str(EXAMPLE / "tests"),
        ],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("8 passed"), result.stdout
