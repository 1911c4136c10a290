"""``/api/testing/*`` (only with ``PARTSBIN_TESTING=1``): what a browser test suite drives."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, BeforeValidator, Field

from core.api.schemas import QueryModel, StrictBody, WholeNumber, error_responses
from core.auth.roles import public
from core.errors import error_response
from core.events import TASK_EVENT, VERSION_EVENT, publish_event
from core.events.api import set_ui_version
from core.events.streams import blocking_response, grant, is_preflight
from core.state import get_state
from core.testing_mode import content
from core.testing_mode.forced_errors import (
    AUTH_SELF,
    HIGHEST_STATUS,
    LOWEST_STATUS,
    force_error,
    take_forced_error,
)

blueprint = APIBlueprint(
    "testing", __name__, url_prefix="/api/testing", abp_tags=[Tag(name="testing")]
)

RequestId = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="the SSE client's request_id")


class TitleQuery(QueryModel):
    title: str = Field(default="Partsbin Test Page", min_length=1, max_length=200)


class TextQuery(QueryModel):
    text: str = Field(default="Partsbin Test Image", min_length=1, max_length=200)


class TaskEventIn(StrictBody):
    request_id: str = RequestId
    task_id: str = Field(min_length=1, max_length=128)
    event_type: Literal["task_started", "progress_update", "task_completed", "task_failed"]
    data: dict[str, Any] | None = None


def _number_not_bool_or_text(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


class TaskParams(StrictBody):
    steps: Annotated[int, Field(ge=0, le=100), WholeNumber] = Field(
        default=3, description="progress reports before the task ends"
    )
    delay: Annotated[float, Field(ge=0, le=10), BeforeValidator(_number_not_bool_or_text)] = Field(
        default=0.1, description="seconds before each progress report"
    )
    error_message: str = Field(
        default="the demo task failed",
        min_length=1,
        max_length=500,
        description="what a failing_task fails with (a demo_task ignores it)",
    )


class TaskStartIn(StrictBody):
    task_type: Literal["demo_task", "failing_task"] = "demo_task"
    params: TaskParams = Field(default_factory=TaskParams)
    request_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="the SSE client whose streams get the task's events (default: every stream)",
    )


class TaskStartOut(BaseModel):
    task_id: str
    status: Literal["started"]


class TaskEventOut(BaseModel):
    request_id: str
    task_id: str
    event_type: str
    delivered: bool


class DeploymentOut(BaseModel):
    request_id: str
    delivered: bool
    status: Literal["delivered"]


class DeploymentIn(StrictBody):
    request_id: str = RequestId
    version: str = Field(min_length=1, max_length=200)
    changelog: str | None = Field(default=None, max_length=2000)


class ForceErrorQuery(QueryModel):
    status: int = Field(
        ge=LOWEST_STATUS,
        le=HIGHEST_STATUS,
        description="HTTP status code to return on next /api/auth/self request",
    )


class TestSessionIn(StrictBody):
    subject: str = Field(min_length=1, max_length=255)
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    roles: list[Literal["reader", "editor"]] = Field(default_factory=list, max_length=2)


def _content(description: str, content_type: str) -> dict[int | str, Any]:
    """The responses of a generated-content route: 200 with ``content_type`` bytes, or 400."""
    return {
        200: {
            "description": description,
            "content": {content_type: {"schema": {"type": "string"}}},
        },
        **error_responses(400),
    }


def _bytes(data: bytes, content_type: str) -> Response:
    response = Response(data, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.get("/content/html", responses=_content("The page", "text/html"))
@public  # testing mode only (loopback): browser tests call these before signing in
def html_page(query: TitleQuery) -> Response:
    """A deterministic HTML page titled ``title`` (its ``og:image`` is the test image)."""
    return _bytes(content.html_page(query.title), "text/html; charset=utf-8")


@blueprint.get("/content/html-with-banner", responses=_content("The page", "text/html"))
@public  # testing mode only (loopback): browser tests call these before signing in
def html_page_with_banner(query: TitleQuery) -> Response:
    """The same page with a deployment banner."""
    return _bytes(content.html_page(query.title, banner=True), "text/html; charset=utf-8")


@blueprint.get("/content/image", responses=_content("The image", "image/png"))
@public  # testing mode only (loopback): browser tests call these before signing in
def image(query: TextQuery) -> Response:
    """A deterministic PNG showing ``text``."""
    return _bytes(content.png_image(query.text), "image/png")


@blueprint.get("/content/pdf", responses=_content("The PDF", "application/pdf"))
@public  # testing mode only (loopback): browser tests call these before signing in
def pdf() -> Response:
    """A deterministic one-page PDF."""
    return _bytes(content.pdf_document(), "application/pdf")


@blueprint.post("/sse/task-event", responses={200: TaskEventOut, **error_responses(400)})
@public  # testing mode only (loopback): browser tests call these before signing in
def task_event(body: TaskEventIn) -> Response:
    """Publish a ``task_event`` to the streams of ``request_id``. ``delivered`` means it was
    stored for delivery: every worker's streams of that request id receive it."""
    publish_event(
        TASK_EVENT,
        {"task_id": body.task_id, "event_type": body.event_type, "data": body.data},
        request_id=body.request_id,
    )
    return jsonify(
        {
            "request_id": body.request_id,
            "task_id": body.task_id,
            "event_type": body.event_type,
            "delivered": True,
        }
    )


@blueprint.get("/logs/stream", responses={200: None})
@public  # testing mode only (loopback): browser tests call these before signing in
def logs_stream() -> Response:
    """Stream this worker's log records (``text/event-stream``, named events): a
    ``connection_open``, then a ``log`` event per record of a ``partsbin`` logger at INFO or
    above, ``heartbeat`` events while it is quiet, and ``connection_close`` when the server
    shuts down. See :mod:`core.testing_mode.logs`."""
    if is_preflight():
        return grant()
    from core.testing_mode.logs import get_broadcaster

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return blocking_response(
        get_broadcaster(app).subscribe, dict, get_state(app).settings.sse_heartbeat
    )


@blueprint.post("/tasks/start", responses={200: TaskStartOut, **error_responses(400, 503)})
@public  # testing mode only (loopback): browser tests call these before signing in
def start_test_task(body: TaskStartIn) -> Response:
    """Start a real background task (see :mod:`core.tasks`): ``demo_task`` reports ``steps``
    progress updates ``delay`` seconds apart and completes; ``failing_task`` then fails with
    ``error_message``. Follow it through its ``task_event``\\ s or ``GET
    /api/tasks/{task_id}/status``; cancel it with ``POST /api/tasks/{task_id}/cancel``."""
    from core.tasks.runner import start_task
    from core.testing_mode import tasks

    params = body.params
    if body.task_type == "demo_task":
        work = tasks.demo_task(params.steps, params.delay)
    else:
        work = tasks.failing_task(params.steps, params.delay, params.error_message)
    task_id = start_task(body.task_type, work, body.request_id)
    return jsonify({"task_id": task_id, "status": "started"})


@blueprint.post("/deployments/version", responses={202: DeploymentOut, **error_responses(400)})
@public  # testing mode only (loopback): browser tests call these before signing in
def deployment_version(body: DeploymentIn) -> Response:
    """Announce a new UI version to the streams of ``request_id``; streams this process opens
    afterwards start with it too."""
    set_ui_version(current_app, body.version)
    payload: dict[str, Any] = {"version": body.version}
    if body.changelog:
        payload["changelog"] = body.changelog
    publish_event(VERSION_EVENT, payload, request_id=body.request_id)
    response = jsonify({"request_id": body.request_id, "delivered": True, "status": "delivered"})
    response.status_code = 202
    return response


@blueprint.post("/auth/session", responses={201: None, **error_responses(400)})
@public  # testing mode only (loopback): browser tests call these before signing in
def auth_session(body: TestSessionIn) -> Response:
    """Sign in as ``subject`` with ``roles`` without a provider: the same session cookie the
    OIDC callback sets (it matters with ``PARTSBIN_AUTH=oidc``; in ``none`` mode everyone is
    the local user anyway)."""
    from core.auth.oidc import Identity
    from core.auth.sessions import create_session, set_session_cookie

    settings = get_state().settings
    identity = Identity(body.subject, body.name, body.email, tuple(dict.fromkeys(body.roles)))
    secret, _row = create_session(settings, identity, {})
    response = jsonify({"subject": body.subject, "roles": list(identity.roles)})
    response.status_code = 201
    set_session_cookie(response, secret, settings, secure=request.is_secure)
    return response


@blueprint.post("/auth/clear", responses={204: None})
@public  # testing mode only (loopback): browser tests call these before signing in
def auth_clear() -> Response:
    """End the caller's session (if any) and delete its cookie."""
    from core.auth.sessions import SESSION_COOKIE, end_session, find_session

    row = find_session(request.cookies.get(SESSION_COOKIE, ""))
    if row is not None:
        end_session(row)
    response = Response(status=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@blueprint.post("/auth/force-error", responses={204: None, **error_responses(400)})
@public  # testing mode only (loopback): browser tests call these before signing in
def auth_force_error(query: ForceErrorQuery) -> Response:
    """Make the next ``GET /api/auth/self`` answer ``status`` (single-shot).

    The next request to it, from any client and on any worker or instance, answers ``status``
    (400-599) with the JSON error envelope, code ``FORCED_ERROR``; the one after answers normally
    again. Forcing again before the error was used replaces the pending status."""
    force_error(AUTH_SELF, query.status)
    return Response(status=204)


@blueprint.before_app_request
def _forced_auth_self_error() -> Response | None:
    """Answer a forced error instead of ``GET /api/auth/self`` when one is pending."""
    if request.endpoint != "auth.auth_self":
        return None
    status = take_forced_error(AUTH_SELF)
    if status is None:
        return None
    response = error_response(
        status,
        f"error {status} forced by POST /api/testing/auth/force-error (testing mode)",
        "FORCED_ERROR",
        {"status": status},
    )
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="partsbin"'
    return response
