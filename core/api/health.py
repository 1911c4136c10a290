"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Response, jsonify
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
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response
