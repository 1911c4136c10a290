"""Fixtures for the parts and kits plugin tests (every test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from core.plugins import hookimpl
from core.state import get_state


def make_png(color: str = "red") -> bytes:
    """A real PNG image."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


class StockPlugin:
    """A stand-in stock plugin: ``levels[part_id]`` is the quantity in stock; counts its calls."""

    def __init__(self) -> None:
        self.levels: dict[int, int] = {}
        self.calls: list[list[int]] = []

    @hookimpl
    def part_stock_levels(self, part_ids: list[int]) -> dict[int, int]:
        self.calls.append(list(part_ids))
        return {pid: self.levels[pid] for pid in part_ids if pid in self.levels}


class EventRecorder:
    """Records every ``entity_deleted`` event."""

    def __init__(self) -> None:
        self.deleted: list[dict[str, Any]] = []

    @hookimpl
    def entity_deleted(self, entity_type: str, entity_id: int, attachment_set_id: int) -> None:
        self.deleted.append(
            {"type": entity_type, "id": entity_id, "attachment_set_id": attachment_set_id}
        )


def _json_object(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert isinstance(body, dict), body
    return body


@pytest.fixture
def stock() -> StockPlugin:
    return StockPlugin()


@pytest.fixture
def events() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def app_plugins(stock: StockPlugin, events: EventRecorder) -> list[object]:
    return [stock, events]


@pytest.fixture
def in_app(app: Flask) -> Callable[[], Any]:
    """``with in_app():`` runs code in the app's context, bound to the app's database."""

    @contextmanager
    def _ctx() -> Iterator[None]:
        with app.app_context():
            yield

    return _ctx


@pytest.fixture
def new_part(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """``new_part(**fields)`` creates a part through the API and returns its JSON."""

    def _new(**fields: Any) -> dict[str, Any]:
        body = {"description": "a part", **fields}
        response = client.post("/api/parts", json=body)
        assert response.status_code == 201, response.json
        return _json_object(response)

    return _new


@pytest.fixture
def new_kit(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """``new_kit(name, **fields)`` creates a kit through the API and returns its JSON."""

    def _new(name: str = "Kit", **fields: Any) -> dict[str, Any]:
        response = client.post("/api/kits", json={"name": name, **fields})
        assert response.status_code == 201, response.json
        return _json_object(response)

    return _new


@pytest.fixture
def upload_png(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """``upload_png(set_id)`` uploads a real PNG into the set through the core API."""

    def _upload(set_id: int, color: str = "red") -> dict[str, Any]:
        response = client.post(
            f"/api/attachment-sets/{set_id}/attachments",
            data={"file": (io.BytesIO(make_png(color)), "a.png"), "title": "x"},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.json
        return _json_object(response)

    return _upload


class QueryCounter:
    """The SQL statements the database ran since the last :meth:`reset`."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def query_counter(app: Flask, monkeypatch: pytest.MonkeyPatch) -> QueryCounter:
    """A counter of every statement the app's database executes from now on."""
    counter = QueryCounter()
    database = get_state(app).database
    original = database.execute_sql

    def execute_sql(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        counter.statements.append(sql)
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", execute_sql)
    return counter
