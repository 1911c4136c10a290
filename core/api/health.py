"""Liveness and readiness probes, and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import logging
import os

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from core.state import get_state
from storage_drivers.base import StorageError, accepts_keyword
from storage_drivers.cache import CachingDriver

log = logging.getLogger("partsbin.health")

blueprint = APIBlueprint("health", __name__, url_prefix="/health", abp_tags=[Tag(name="health")])
metrics_blueprint = APIBlueprint("metrics", __name__, abp_tags=[Tag(name="health")])

#: How long readiness waits for the storage to answer, seconds.
STORAGE_CHECK_SECONDS = 2.0


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
    """The database and the storage answer; 503 names the one that does not.

    The storage gets :data:`STORAGE_CHECK_SECONDS` to answer (a frozen server is "unavailable"
    within that, whatever the driver's timeouts for ordinary requests).
    """
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
        check = state.storage.check
        if accepts_keyword(check, "timeout"):
            check(timeout=STORAGE_CHECK_SECONDS)
        else:  # a third-party driver written before the timeout argument
            check()
        checks["storage"] = "ok"
    except StorageError as exc:
        log.warning("readiness: storage: %s", exc)
        checks["storage"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


_CACHE_METRICS = {
    "hits": ("counter", "Reads of immutable objects answered from the local cache."),
    "misses": ("counter", "Reads of immutable objects the local cache did not hold."),
    "fills": ("counter", "Objects copied into the local cache."),
    "fill_bytes": ("counter", "Bytes copied into the local cache."),
    "fills_discarded": ("counter", "Cache fills discarded because they did not verify."),
    "corrupt": ("counter", "Cached files found damaged (deleted and refetched)."),
    "evictions": ("counter", "Files evicted from the local cache."),
    "evicted_bytes": ("counter", "Bytes evicted from the local cache."),
}


@metrics_blueprint.get("/metrics", responses={200: {"description": "Prometheus text format"}})
def metrics() -> Response:
    """Counters of this worker process in the Prometheus text format (label ``pid``).

    ``partsbin_cache_enabled`` is 1 when a read-through cache fronts the storage; the
    ``partsbin_cache_*_total`` counters count its hits, misses, fills and evictions.
    """
    reader = get_state().read_storage
    pid = os.getpid()
    lines = [
        "# HELP partsbin_cache_enabled Whether a local read-through cache fronts the storage.",
        "# TYPE partsbin_cache_enabled gauge",
        f'partsbin_cache_enabled{{pid="{pid}"}} {int(isinstance(reader, CachingDriver))}',
    ]
    if isinstance(reader, CachingDriver):
        counters = dict(reader.cache.counters)
        for name, (kind, text) in _CACHE_METRICS.items():
            metric = f"partsbin_cache_{name}_total"
            lines += [
                f"# HELP {metric} {text}",
                f"# TYPE {metric} {kind}",
                f'{metric}{{pid="{pid}"}} {counters[name]}',
            ]
    response = Response("\n".join(lines) + "\n", status=200)
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response
