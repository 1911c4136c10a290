"""Live events: ``publish_event`` and ``GET /api/sse/stream`` (the event stream EI's UI opens).

In-process tests use the Flask client (the route streams by itself under WSGI); the live tests
run ``partsbin serve`` (uvicorn workers: streams on the event loop) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from core.errors import ValidationFailed
from core.events import TASK_EVENT, publish_event
from core.events.store import MAX_PAYLOAD_BYTES
from core.testing.servers.live_server import LiveServer
from tests.events.sse_client import SseClient


@pytest.fixture
def ui_build(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>ui</title>")
    (folder / "version.json").write_text(json.dumps({"version": "build-42"}))
    return folder


@pytest.fixture
def app_config(db_url: str, storage_url: str, ui_build: Path) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "ui_dir": str(ui_build),
        "sse_heartbeat": 0.5,
    }


def _messages(response: Any) -> Iterator[str]:
    for chunk in response.response:
        for block in chunk.decode().split("\n\n"):
            if block:
                yield block


def _data(block: str) -> dict[str, Any]:
    line = next(line for line in block.split("\n") if line.startswith("data: "))
    return json.loads(line[len("data: ") :])


def test_a_stream_starts_with_the_served_uis_version(client) -> None:
    response = client.get("/api/sse/stream?request_id=abc", buffered=False)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"].startswith("no-cache")
        first = next(_messages(response))
        assert _data(first) == {"type": "version", "payload": {"version": "build-42"}}
    finally:
        response.close()


def test_an_idle_stream_sends_heartbeat_comments(client) -> None:
    response = client.get("/api/sse/stream?request_id=abc", buffered=False)
    try:
        blocks = _messages(response)
        next(blocks)  # the version
        assert next(blocks) == ": heartbeat"
    finally:
        response.close()


def test_a_published_event_reaches_the_stream_of_its_request_id(app, client) -> None:
    response = client.get("/api/sse/stream?request_id=mine", buffered=False)
    try:
        blocks = _messages(response)
        next(blocks)
        with app.app_context():
            publish_event(TASK_EVENT, {"task_id": "t", "event_type": "x"}, request_id="other")
            event_id = publish_event(TASK_EVENT, {"task_id": "t", "event_type": "progress_update"},
                                     request_id="mine")
        block = next(b for b in blocks if not b.startswith(":"))
        assert block.startswith(f"id: {event_id}\n")
        assert _data(block) == {
            "type": "task_event",
            "payload": {"task_id": "t", "event_type": "progress_update"},
        }
    finally:
        response.close()


def test_a_reconnecting_client_gets_what_it_missed_after_its_last_event_id(app, client) -> None:
    with app.app_context():
        seen = publish_event(TASK_EVENT, {"task_id": "seen"}, request_id="me")
        publish_event(TASK_EVENT, {"task_id": "not mine"}, request_id="someone")
        publish_event(TASK_EVENT, {"task_id": "missed 1"}, request_id="me")
        publish_event(TASK_EVENT, {"task_id": "missed 2"})  # to everyone
    response = client.get(
        "/api/sse/stream?request_id=me", headers={"Last-Event-ID": str(seen)}, buffered=False
    )
    try:
        blocks = _messages(response)
        assert _data(next(blocks))["type"] == "version"
        replayed = [_data(next(blocks))["payload"]["task_id"] for _ in range(2)]
        assert replayed == ["missed 1", "missed 2"]
    finally:
        response.close()


def test_a_stream_needs_a_well_formed_request_id(client) -> None:
    for query in ("", "?request_id=", "?request_id=a%20b", "?request_id=" + "x" * 129):
        response = client.get(f"/api/sse/stream{query}")
        assert response.status_code == 400, query
        assert "request_id" in response.json["details"]["fields"], query


@pytest.mark.parametrize(
    ("event_type", "payload", "request_id"),
    [
        ("Task Event", {}, None),
        ("", {}, None),
        ("task_event", {"when": object()}, None),
        ("task_event", {"big": "x" * MAX_PAYLOAD_BYTES}, None),
        ("task_event", {}, "not ok!"),
    ],
)
def test_publish_refuses_bad_events(app, event_type, payload, request_id) -> None:
    with app.app_context(), pytest.raises(ValidationFailed) as caught:
        publish_event(event_type, payload, request_id=request_id)
    assert caught.value.code == "BAD_EVENT"


def test_an_event_of_rolled_back_work_is_never_stored(app) -> None:
    from core.db import database
    from core.events.store import EventRow

    with app.app_context():
        before = EventRow.select().count()
        with pytest.raises(RuntimeError), database.atomic():
            publish_event(TASK_EVENT, {"task_id": "t"})
            raise RuntimeError("the work failed")
        assert EventRow.select().count() == before


# --- live servers ---------------------------------------------------------------------------


def _live_settings(db_url: str, storage_url: str) -> dict[str, str]:
    return {
        "PARTSBIN_DATABASE_URL": db_url,
        "PARTSBIN_STORAGE_URL": storage_url,
        "PARTSBIN_TESTING": "1",
        "PARTSBIN_SSE_HEARTBEAT": "1",
    }


def _task_event(server: LiveServer, request_id: str, task_id: str, **data: Any) -> None:
    response = requests.post(
        f"{server.url}/api/testing/sse/task-event",
        json={
            "request_id": request_id,
            "task_id": task_id,
            "event_type": "progress_update",
            "data": data,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_events_reach_the_streams_of_every_instance_for_their_request_id_only(
    db_url, storage_url
) -> None:
    settings = _live_settings(db_url, storage_url)
    with LiveServer(settings, workers=2, threads=2) as one, LiveServer(
        settings, workers=1, threads=2
    ) as two:
        mine = SseClient(one.port, "/api/sse/stream?request_id=mine")
        other = SseClient(one.port, "/api/sse/stream?request_id=other")
        try:
            assert mine.status == 200
            assert mine.headers["content-type"].startswith("text/event-stream")
            assert mine.next_event()["type"] == "version"
            assert other.next_event()["type"] == "version"
            _task_event(two, "mine", "t-mine", step=1)  # published on the other instance
            _task_event(two, "other", "t-other", step=2)
            got = mine.next_event()
            assert got["type"] == "task_event"
            assert got["payload"] == {
                "task_id": "t-mine", "event_type": "progress_update", "data": {"step": 1},
            }
            assert other.next_event()["payload"]["task_id"] == "t-other"  # never t-mine
        finally:
            mine.close()
            other.close()


def test_a_reconnect_through_partsbin_serve_replays_the_missed_events(tmp_path) -> None:
    settings = _live_settings(f"sqlite:///{tmp_path}/db.sqlite", f"file://{tmp_path}/blobs")
    with LiveServer(settings, workers=1, threads=2) as server:
        first = SseClient(server.port, "/api/sse/stream?request_id=back")
        assert first.next_event()["type"] == "version"
        _task_event(server, "back", "before")
        last_seen = first.next_event()["id"]
        first.close()
        _task_event(server, "back", "while-away-1")
        _task_event(server, "back", "while-away-2")
        again = SseClient(
            server.port, "/api/sse/stream?request_id=back", headers={"Last-Event-ID": last_seen}
        )
        try:
            assert again.next_event()["type"] == "version"
            assert again.next_event()["payload"]["task_id"] == "while-away-1"
            assert again.next_event()["payload"]["task_id"] == "while-away-2"
            _task_event(server, "back", "live")
            assert again.next_event()["payload"]["task_id"] == "live"  # each event once
        finally:
            again.close()


def test_a_refused_stream_gets_flasks_json_error(tmp_path) -> None:
    settings = _live_settings(f"sqlite:///{tmp_path}/db.sqlite", f"file://{tmp_path}/blobs")
    with LiveServer(settings, workers=1, threads=2) as server:
        response = requests.get(f"{server.url}/api/sse/stream", timeout=10)
        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert response.headers["X-Request-ID"]


def test_a_client_that_stops_reading_is_dropped(tmp_path) -> None:
    settings = _live_settings(f"sqlite:///{tmp_path}/db.sqlite", f"file://{tmp_path}/blobs")
    with LiveServer(settings, workers=1, threads=4) as server:
        slow = SseClient(server.port, "/api/sse/stream?request_id=slow", rcvbuf=4096)
        try:
            assert slow.next_event()["type"] == "version"
            filler = "x" * 48_000
            sent = 300
            for number in range(sent):  # ~14 MB for a client that reads nothing meanwhile
                _task_event(server, "slow", f"t{number}", filler=filler)
            received = 0
            with pytest.raises(EOFError):
                while True:
                    if slow.next_event()["type"] == "task_event":
                        received += 1
            assert received < sent  # the server gave up on it instead of buffering everything
            fresh = SseClient(server.port, "/api/sse/stream?request_id=slow")
            assert fresh.next_event()["type"] == "version"  # the server itself is fine
            fresh.close()
        finally:
            slow.close()


def test_the_server_stops_promptly_with_streams_open(tmp_path) -> None:
    settings = _live_settings(f"sqlite:///{tmp_path}/db.sqlite", f"file://{tmp_path}/blobs")
    server = LiveServer(settings, workers=1, threads=2).start()
    stream = SseClient(server.port, "/api/sse/stream?request_id=open")
    try:
        assert stream.next_event()["type"] == "version"
        server.stop()  # SIGTERM; kills after 15 s if the server hangs
        assert server.process is not None and server.process.returncode == 0
        with pytest.raises(EOFError):
            stream.next_event()
    finally:
        stream.close()
        server.stop()
