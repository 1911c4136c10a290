"""Liveness and readiness probes."""

from __future__ import annotations

import hmac
import logging
import os
import signal

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from core.state import get_state
from storage_drivers.base import StorageError

log = logging.getLogger("partsbin.health")

blueprint = APIBlueprint("health", __name__, url_prefix="/health", abp_tags=[Tag(name="health")])


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class DrainStatus(BaseModel):
    status: str
    ready: bool


#: ``app.extensions`` key set once the app was drained.
_DRAINING = "partsbin.draining"
#: Environment variable naming the ``partsbin serve`` master process (set by core.serve).
MASTER_PID_VARIABLE = "PARTSBIN_SERVE_MASTER_PID"


@blueprint.get("/healthz", responses={200: Liveness})
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz", responses={200: Readiness, 503: Readiness})
def readyz() -> Response:
    """The database and the storage answer; 503 names the one that does not."""
    state = get_state()
    checks: dict[str, str] = {}
    try:
        state.database.execute_sql("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: database: %s", exc)
        checks["database"] = "unavailable"
        if not state.database.is_closed():
            state.database.close()
    try:
        state.storage.check()
        checks["storage"] = "ok"
    except StorageError as exc:
        log.warning("readiness: storage: %s", exc)
        checks["storage"] = "unavailable"
    if current_app.extensions.get(_DRAINING):
        checks["drain"] = "shutting down"
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


@blueprint.get("/drain", responses={200: DrainStatus, 401: DrainStatus})
def drain() -> Response:
    """Start a graceful shutdown (``Authorization: Bearer <PARTSBIN_DRAIN_KEY>``): readiness
    answers 503 from now on, this worker's event streams close (clients reconnect to another
    instance) and, under ``partsbin serve``, the server stops after finishing its requests.
    401 without the key or when ``PARTSBIN_DRAIN_KEY`` is unset."""
    key = get_state().settings.drain_key
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if not key or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), key):
        response = jsonify({"status": "unauthorized", "ready": False})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="drain"'
        return response
    current_app.extensions[_DRAINING] = True
    from core.events.api import get_hub

    get_hub().close_all()
    master = os.environ.get(MASTER_PID_VARIABLE, "")
    if master.isdigit():
        log.warning("drain requested: stopping the server (master pid %s)", master)
        os.kill(int(master), signal.SIGTERM)
    return jsonify({"status": "shutting down", "ready": False})
