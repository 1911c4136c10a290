"""Background tasks (core/tasks): started in testing mode, followed through
``/api/tasks/{id}/status`` and ``task_event``\\ s, cancelled, deleted, abandoned, pruned; and
across the workers of a real ``partsbin serve``."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from core.db import utcnow
from core.events.store import EventRow
from core.tasks import runner
from core.tasks.models import TaskRow
from core.testing.servers.live_server import LiveServer
from tests.events.sse_client import SseClient


@pytest.fixture
def app_config(db_url: str, storage_url: str) -> dict[str, Any]:
    return {
        "database_url": db_url,
        "storage_url": storage_url,
        "log_level": "WARNING",
        "testing": True,
    }


def start(client: FlaskClient, **body: Any) -> str:
    response = client.post("/api/testing/tasks/start", json=body)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "started"
    return str(response.json["task_id"])


def finish(app: Flask) -> None:
    assert runner.get_runner(app).join(30), "a task thread did not end"


def task_events(app: Flask, task_id: str) -> list[tuple[str, Any, str | None]]:
    """``(event_type, data, request_id)`` of every stored ``task_event`` of ``task_id``."""
    with app.app_context():
        rows = EventRow.select().where(EventRow.event_type == "task_event").order_by(EventRow.id)
        found = [(json.loads(r.payload), r.request_id) for r in rows]
    return [(p["event_type"], p["data"], rid) for p, rid in found if p["task_id"] == task_id]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_demo_task_reports_progress_and_completes(app, client) -> None:
    task_id = start(client, params={"steps": 3, "delay": 0}, request_id="tab-1")
    finish(app)
    status = client.get(f"/api/tasks/{task_id}/status")
    assert status.status_code == 200
    body = status.json
    assert (body["task_id"], body["task_type"], body["status"]) == (
        task_id,
        "demo_task",
        "completed",
    )
    assert (body["progress"], body["progress_text"]) == (1.0, "Step 3 of 3")
    assert body["result"] == {"steps_completed": 3}
    assert body["error"] is None and body["start_time"] and body["end_time"]
    events = task_events(app, task_id)
    assert [e[0] for e in events] == [
        "task_started",
        "progress_update",
        "progress_update",
        "progress_update",
        "task_completed",
    ]
    assert events[1][1] == {"text": "Step 1 of 3", "value": pytest.approx(1 / 3)}
    assert events[-1][1] == {"success": True, "steps_completed": 3}
    assert {e[2] for e in events} == {"tab-1"}  # only the streams of that client


def test_a_task_without_request_id_publishes_to_every_stream(app, client) -> None:
    task_id = start(client, params={"steps": 0})
    finish(app)
    assert {e[2] for e in task_events(app, task_id)} == {None}


def test_a_failing_task_fails_with_its_message(app, client) -> None:
    task_id = start(
        client, task_type="failing_task", params={"steps": 1, "delay": 0, "error_message": "boom"}
    )
    finish(app)
    body = client.get(f"/api/tasks/{task_id}/status").json
    assert (body["status"], body["error"], body["error_code"]) == ("failed", "boom", "TASK_FAILED")
    assert body["result"] is None
    events = task_events(app, task_id)
    assert events[-1][:2] == ("task_failed", {"error": "boom", "code": "TASK_FAILED"})
    assert [e[0] for e in events].count("task_completed") == 0


def test_cancelling_a_running_task_stops_it_at_once(app, client) -> None:
    task_id = start(client, params={"steps": 5, "delay": 10})
    with app.app_context():
        wait_until(lambda: TaskRow.get_by_id(task_id).status == "running")
    cancelled = client.post(f"/api/tasks/{task_id}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json["status"], cancelled.json["error_code"]) == (
        "cancelled",
        "TASK_CANCELLED",
    )
    # Its work is woken by the cancel: without that it would sleep out its 10 s step.
    assert runner.get_runner(app).join(8), "the cancelled task's work was not woken"
    assert client.get(f"/api/tasks/{task_id}/status").json["status"] == "cancelled"
    events = task_events(app, task_id)
    assert [e[0] for e in events] == ["task_started", "task_failed"]  # no progress after it
    assert events[-1][1] == {"error": "the task was cancelled", "code": "TASK_CANCELLED"}

    again = client.post(f"/api/tasks/{task_id}/cancel")
    assert again.status_code == 409
    assert again.json["code"] == "TASK_NOT_RUNNING"
    assert again.json["details"] == {"task_id": task_id, "status": "cancelled"}


def test_a_cancel_before_the_work_first_waits_still_wakes_it(app, client) -> None:
    gate = threading.Event()

    def work(context: runner.TaskContext) -> dict[str, Any]:
        gate.wait(30)  # cancelled meanwhile, before its first wait
        context.wait(10)
        return {}

    with app.app_context():
        task_id = runner.start_task("probe", work)
        wait_until(lambda: TaskRow.get_by_id(task_id).status == "running")
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200
    gate.set()
    assert runner.get_runner(app).join(8), "the cancel was lost: the work slept its 10 s"
    assert client.get(f"/api/tasks/{task_id}/status").json["status"] == "cancelled"


def test_a_waiting_task_holds_no_database_connection(app, client) -> None:
    from core.db import database

    def work(context: runner.TaskContext) -> dict[str, Any]:
        context.progress("connected", 0.5)  # a query: the thread has a connection now
        held = not database.is_closed()
        context.wait(0.01)
        return {"held_before": held, "held_while_waiting": not database.is_closed()}

    with app.app_context():
        task_id = runner.start_task("probe", work)
    finish(app)
    result = client.get(f"/api/tasks/{task_id}/status").json["result"]
    assert result == {"held_before": True, "held_while_waiting": False}


def test_a_running_task_cannot_be_deleted_a_finished_one_can(app, client) -> None:
    task_id = start(client, params={"steps": 2, "delay": 5})
    refused = client.delete(f"/api/tasks/{task_id}")
    assert refused.status_code == 409
    assert refused.json["code"] == "TASK_RUNNING"
    assert refused.json["details"]["status"] in ("pending", "running")
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200
    finish(app)
    assert client.delete(f"/api/tasks/{task_id}").status_code == 204
    gone = client.get(f"/api/tasks/{task_id}/status")
    assert gone.status_code == 404 and gone.json["code"] == "TASK_NOT_FOUND"


@pytest.mark.parametrize("task_id", ["0" * 32, "not-a-task", "x" * 300, "%E2%9C%93"])
def test_an_unknown_task_is_a_404_everywhere(client, task_id: str) -> None:
    for method, url in (
        ("GET", f"/api/tasks/{task_id}/status"),
        ("POST", f"/api/tasks/{task_id}/cancel"),
        ("DELETE", f"/api/tasks/{task_id}"),
    ):
        response = client.open(url, method=method)
        assert response.status_code == 404, (method, url)
        assert set(response.json) == {"error", "details", "code"}
        assert response.json["code"] == "TASK_NOT_FOUND"


def _insert(app: Flask, task_id: str, status: str, **fields: Any) -> None:
    with app.app_context():
        TaskRow.create(id=task_id, task_type="demo_task", status=status, **fields)


def test_a_task_whose_worker_stopped_is_reported_failed(app, client) -> None:
    stale = utcnow() - runner.STALE_AFTER - dt.timedelta(seconds=1)
    _insert(app, "a" * 32, "running", heartbeat_at=stale, request_id="tab-9")
    _insert(app, "b" * 32, "running", heartbeat_at=utcnow())
    body = client.get(f"/api/tasks/{'a' * 32}/status").json
    assert (body["status"], body["error_code"]) == ("failed", "TASK_ABANDONED")
    assert task_events(app, "a" * 32) == [
        (
            "task_failed",
            {"error": "the worker running this task stopped", "code": "TASK_ABANDONED"},
            "tab-9",
        )
    ]
    assert client.get(f"/api/tasks/{'b' * 32}/status").json["status"] == "running"  # alive


def test_old_tasks_are_pruned_when_a_task_starts(app, client) -> None:
    long_ago = utcnow() - runner.RETENTION - dt.timedelta(minutes=1)
    _insert(app, "c" * 32, "completed", ended_at=long_ago, heartbeat_at=long_ago)
    _insert(app, "d" * 32, "running", heartbeat_at=long_ago)
    _insert(app, "e" * 32, "completed", ended_at=utcnow(), heartbeat_at=utcnow())
    start(client, params={"steps": 0})
    finish(app)
    with app.app_context():
        left = {row.id for row in TaskRow.select()}
    assert "c" * 32 not in left and "d" * 32 not in left
    assert "e" * 32 in left


def test_a_worker_runs_a_bounded_number_of_tasks(app, client) -> None:
    runner.get_runner(app).max_running = 1
    task_id = start(client, params={"steps": 1, "delay": 5})
    refused = client.post("/api/testing/tasks/start", json={})
    assert refused.status_code == 503
    assert refused.json["code"] == "TOO_MANY_TASKS"
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200
    finish(app)
    start(client, params={"steps": 0})  # room again


@pytest.mark.parametrize(
    "body, field",
    [
        ({"task_type": "sleep_forever"}, "task_type"),
        ({"params": {"steps": 101}}, "params.steps"),
        ({"params": {"steps": True}}, "params.steps"),
        ({"params": {"delay": -1}}, "params.delay"),
        ({"params": {"delay": "0.1"}}, "params.delay"),
        ({"params": {"retries": 3}}, "params.retries"),
        ({"request_id": "no spaces"}, "request_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_task_requests_are_400(app, client, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/testing/tasks/start", json=body)
    assert response.status_code == 400
    assert response.json["code"] == "VALIDATION_ERROR"
    assert field in response.json["details"]["fields"]
    with app.app_context():
        assert TaskRow.select().count() == 0


def test_without_testing_mode_tasks_cannot_be_started_but_the_api_answers(
    db_url, storage_url
) -> None:
    from core.app import create_app
    from core.db import close_database
    from core.migrate import apply_migrations
    from core.state import get_state

    plain = create_app({"database_url": db_url, "storage_url": storage_url, "log_level": "ERROR"})
    try:
        with plain.app_context():
            apply_migrations(get_state(plain))
        client = plain.test_client()
        assert client.post("/api/testing/tasks/start", json={}).status_code == 404
        unknown = client.get(f"/api/tasks/{'0' * 32}/status")
        assert (unknown.status_code, unknown.json["code"]) == (404, "TASK_NOT_FOUND")
    finally:
        close_database(get_state(plain).database)


# --- a real server --------------------------------------------------------------------------


def test_task_events_reach_the_stream_and_any_worker_answers_and_cancels(tmp_path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path}/blobs",
        "PARTSBIN_TESTING": "1",
        "PARTSBIN_SSE_HEARTBEAT": "1",
    }
    with LiveServer(settings, workers=2, threads=2) as server:
        stream = SseClient(server.port, "/api/sse/stream?request_id=tab")
        try:
            assert stream.next_event()["type"] == "version"
            started = requests.post(
                f"{server.url}/api/testing/tasks/start",
                json={"params": {"steps": 2, "delay": 0}, "request_id": "tab"},
                timeout=30,
            ).json()
            seen = []
            while not seen or seen[-1] != "task_completed":
                event = stream.next_event()
                if event["type"] == "task_event":
                    assert event["payload"]["task_id"] == started["task_id"]
                    seen.append(event["payload"]["event_type"])
            assert seen == ["task_started", "progress_update", "progress_update", "task_completed"]

            slow = requests.post(
                f"{server.url}/api/testing/tasks/start",
                json={"params": {"steps": 50, "delay": 0.2}, "request_id": "tab"},
                timeout=30,
            ).json()["task_id"]
            for _ in range(6):  # requests spread over both workers: each reads the same row
                status = requests.get(f"{server.url}/api/tasks/{slow}/status", timeout=30)
                assert status.status_code == 200
                assert status.json()["status"] in ("pending", "running")
            cancel = requests.post(f"{server.url}/api/tasks/{slow}/cancel", timeout=30)
            assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
            while True:
                event = stream.next_event()
                if event["type"] == "task_event" and event["payload"]["task_id"] == slow:
                    if event["payload"]["event_type"] == "task_failed":
                        assert event["payload"]["data"]["code"] == "TASK_CANCELLED"
                        break
            time.sleep(0.5)  # longer than a step: a progress report would show up now
            after = requests.get(f"{server.url}/api/tasks/{slow}/status", timeout=30).json()
            assert after["status"] == "cancelled"
            assert after["progress_text"] == cancel.json()["progress_text"]  # no step after it
        finally:
            stream.close()
