"""``GET /api/testing/logs/stream``: the server's log records as named server-sent events, through
the Flask test client (the blocking path) and a real ``partsbin serve`` (the event loop)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.testing.servers.live_server import LiveServer
from core.testing_mode import logs
from tests.events.sse_client import SseClient


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "INFO",
        "testing": True,
        "sse_heartbeat": 0.2,
    }


def named_events(chunks: Iterator[bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of each message in a stream of body chunks."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        while b"\n\n" in pending:
            block, pending = pending.split(b"\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.decode().split("\n"))
            yield fields.get("event", "message"), json.loads(fields["data"])


def partsbin_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger("partsbin").handlers if isinstance(h, logs.LogBroadcaster)]


def test_the_stream_carries_each_record_with_its_request_id(client) -> None:
    stream = client.get("/api/testing/logs/stream", buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    events = named_events(iter(stream.response))
    try:
        name, data = next(events)
        assert name == "connection_open" and data["status"] == "connected"
        assert len(partsbin_handlers()) == 1  # attached while a stream is open
        answered = client.get("/api/testing/content/pdf", headers={"X-Request-ID": "trace-7"})
        assert answered.headers["X-Request-ID"] == "trace-7"
        for name, data in events:
            if name == "log" and data.get("path") == "/api/testing/content/pdf":
                break
        assert data["correlation_id"] == "trace-7"
        assert (data["level"], data["logger"], data["message"]) == (
            "INFO",
            "partsbin.http",
            "request",
        )
        assert data["status"] == 200 and "request_id" not in data
        for name, data in events:  # quiet now: heartbeats
            if name == "heartbeat":
                assert data["timestamp"]
                break
    finally:
        stream.close()
    assert partsbin_handlers() == []  # detached with the last stream


def test_a_record_outside_a_request_has_no_correlation_id(app, client) -> None:
    stream = client.get("/api/testing/logs/stream", buffered=False)
    events = named_events(iter(stream.response))
    try:
        assert next(events)[0] == "connection_open"
        logging.getLogger("partsbin.tests").warning("disk %s is almost full", "/dev/sda1")
        for name, data in events:
            if name == "log" and data["logger"] == "partsbin.tests":
                break
        assert data["message"] == "disk /dev/sda1 is almost full"
        assert (data["level"], data["correlation_id"]) == ("WARNING", None)
    finally:
        stream.close()


def test_debug_records_are_not_streamed() -> None:
    broadcaster = logs.LogBroadcaster()
    feed = broadcaster.subscribe(lambda: None)
    source = logging.getLogger("partsbin")
    level = source.level
    source.setLevel(logging.DEBUG)  # the logger lets DEBUG through; the stream does not
    try:
        logging.getLogger("partsbin.x").debug("detail")
        logging.getLogger("partsbin.x").info("news")
        taken = list(named_events(iter([feed.take()])))
        assert [data["message"] for _name, data in taken] == ["news"]
    finally:
        source.setLevel(level)
        feed.release()


def test_a_client_that_falls_behind_loses_the_oldest_records_and_is_told() -> None:
    broadcaster = logs.LogBroadcaster()
    woken: list[int] = []
    feed = broadcaster.subscribe(lambda: woken.append(1))
    try:
        for number in range(logs.MAX_PENDING + 10):
            broadcaster.emit(
                logging.LogRecord("partsbin.x", logging.INFO, "", 1, f"r{number}", (), None)
            )
        taken = list(named_events(iter([feed.take()])))
        assert len(taken) == logs.MAX_PENDING + 1  # the kept records and one note
        note = taken[0][1]
        assert (note["logger"], note["dropped"]) == ("partsbin.testing.logs", 10)
        assert (
            taken[1][1]["message"] == "r10"
            and taken[-1][1]["message"] == f"r{logs.MAX_PENDING + 9}"
        )
        assert feed.take() == b""  # emptied
        assert len(woken) == logs.MAX_PENDING + 10
    finally:
        feed.release()


def test_a_huge_record_is_cut() -> None:
    broadcaster = logs.LogBroadcaster()
    record = logging.LogRecord("partsbin.x", logging.ERROR, "", 1, "x" * 50_000, (), None)
    entry = broadcaster.entry(record)
    assert entry["truncated"] is True and len(entry["message"]) == 2000
    assert len(json.dumps(entry).encode()) <= logs.MAX_ENTRY_BYTES


def test_shutdown_closes_every_stream_with_a_farewell() -> None:
    broadcaster = logs.LogBroadcaster()
    feed = broadcaster.subscribe(lambda: None)
    broadcaster.close_all()
    assert feed.closed
    assert list(named_events(iter([feed.farewell()]))) == [
        ("connection_close", {"reason": "server shutdown"})
    ]
    feed.release()
    feed.release()  # idempotent
    assert broadcaster.subscriber_count == 0


def test_without_testing_mode_there_is_no_log_stream(db_url, storage_url) -> None:
    from core.app import create_app
    from core.db import close_database
    from core.state import get_state

    app = create_app({"database_url": db_url, "storage_url": storage_url, "log_level": "ERROR"})
    try:
        assert app.test_client().get("/api/testing/logs/stream").status_code == 404
    finally:
        close_database(get_state(app).database)


def test_a_real_server_streams_logs_on_its_event_loop_and_says_goodbye(tmp_path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        "PARTSBIN_TESTING": "1",
        "PARTSBIN_LOG_LEVEL": "INFO",
        "PARTSBIN_SSE_HEARTBEAT": "1",
    }
    server = LiveServer(settings, workers=1, threads=2).start()
    stream = SseClient(server.port, "/api/testing/logs/stream")
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = named_events(_blocks(stream))
        assert next(events)[0] == "connection_open"
        # Two more streams while this one is open: the pool's 2 threads are not held by them.
        others = [SseClient(server.port, "/api/testing/logs/stream") for _ in range(2)]
        answered = requests.get(
            f"{server.url}/health/healthz", headers={"X-Request-ID": "live-42"}, timeout=30
        )
        assert answered.status_code == 200
        for name, data in events:
            if name == "log" and data.get("correlation_id") == "live-42":
                break
        assert data["path"] == "/health/healthz"
        for other in others:
            other.close()
        server.stop()
        names = [name for name, _data in events]
        assert names[-1] == "connection_close"
    finally:
        stream.close()
        server.stop()


def _blocks(stream: SseClient) -> Iterator[bytes]:
    """The body of ``stream`` as chunks, until it ends."""
    try:
        while True:
            chunk = stream._read_chunk()
            if not chunk:
                return
            yield chunk
    except EOFError:
        return
