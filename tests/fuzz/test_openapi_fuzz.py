"""Schemathesis against the app's own OpenAPI document: no 5xx, responses match the schema.

Every operation gets a bounded number of generated requests (``FUZZ_EXAMPLES``, default 60),
against an app on SQLite with one part, one kit and one uploaded image so that some generated
ids hit real rows. URL attachments are fuzzed too; the suite-wide network guard keeps every
fetch on this machine. The app is in testing mode (``PARTSBIN_TESTING=1``), so the
``/api/testing/*`` helpers are fuzzed as well.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from PIL import Image
from schemathesis import checks

from core.app import create_app
from core.migrate import apply_migrations
from core.state import get_state
from core.tasks.runner import get_runner, stop_tasks

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))

#: What the API promises: no 5xx; every status, content type, header and body as declared;
#: schema-violating requests rejected with a 4xx; and schema-valid requests accepted (2xx, or
#: 404/409 for a row that does not exist or is in use: schemathesis' default allowance).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
]
#: Operations that fetch a URL: a schema-valid URL that cannot be fetched (nothing listens, or
#: the fetch policy refuses it) is rightly a 4xx, so positive data acceptance does not apply.
#: The upload route is among them because its JSON form adds a URL attachment.
FETCHES_URLS = {
    "POST /api/attachment-preview",
    "POST /api/parts/attachment-preview",
    "POST /api/attachment-sets/{set_id}/attachments",
    "GET /api/parts/attachment-preview/image",
    "GET /api/parts/attachment-proxy/content",
}
#: Operations whose schema-valid input may still be rightly refused for what no schema states:
#: an opaque paging cursor that did not come from a previous page; a sign-in or sign-out
#: ``redirect`` that is not a path of this server (an open redirect otherwise); a logo whose
#: bytes are not a real image (the content is sniffed and validated).
CONTEXT_DEPENDENT = {
    "GET /api/parts",
    "GET /api/auth/login",
    "GET /api/auth/logout",
    "PUT /api/sellers/{seller_id}/logo",
}


#: Operations this server does not provide (no AI service): every request an editor sends is a
#: 501 ``AI_NOT_AVAILABLE`` (documented), or a 400 for a body that is not JSON at all. Their
#: answers are a server error by design, so ``not_a_server_error`` and ``positive_data_acceptance``
#: give way to that precise expectation.
NOT_AVAILABLE = {
    "POST /api/ai-parts/analyze",
    "POST /api/ai-parts/cleanup",
    "POST /api/ai-parts/create",
}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        {
            "database_url": f"sqlite:///{folder}/fuzz.db",
            "storage_url": f"file://{folder}/blobs",
            "log_level": "ERROR",
            "url_fetch_timeout": 0.5,
            "testing": True,  # the /api/testing helpers are fuzzed too
        }
    )
    # Generated demo tasks may sleep for minutes each; none may be refused for being too many.
    get_runner(app).max_running = 10_000
    with app.app_context():
        apply_migrations(get_state(app))
    client = app.test_client()
    part = client.post("/api/parts", json={"description": "fuzz part"}).json
    client.post("/api/kits", json={"name": "fuzz kit"})
    png = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(png, "PNG")
    client.post(
        f"/api/attachment-sets/{part['attachment_set_id']}/attachments",
        data={"file": (io.BytesIO(png.getvalue()), "a.png"), "title": "seed"},
        content_type="multipart/form-data",
    )
    yield app
    stop_tasks(app)


def _build_schema():
    """The app's schema and its operations, built once at collection time."""
    return schemathesis.openapi.from_wsgi("/api/docs/openapi.json", _collection_app())


def _collection_app():
    import tempfile

    folder = tempfile.mkdtemp(prefix="partsbin-fuzz-schema-")
    return create_app(
        {
            "database_url": f"sqlite:///{folder}/s.db",
            "storage_url": f"file://{folder}/b",
            "testing": True,
        }
    )


#: Operations not fuzzed: streams never end (tests/events and tests/test_testing_logs.py cover
#: them).
NOT_FUZZED = {"GET /api/sse/stream", "GET /api/testing/logs/stream"}

OPERATIONS = sorted(
    label
    for label in (op.ok().label for op in _build_schema().get_all_operations())
    if label not in NOT_FUZZED
)


def test_every_route_is_in_the_schema() -> None:
    assert len(OPERATIONS) >= 30, OPERATIONS
    assert FETCHES_URLS | NOT_AVAILABLE <= set(OPERATIONS)
    assert "POST /api/testing/tasks/start" in OPERATIONS


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation(fuzz_app, label: str) -> None:
    operation = schemathesis.openapi.from_wsgi("/api/docs/openapi.json", fuzz_app)
    operation = operation.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case) -> None:
        # The one rule between parameters that OpenAPI cannot state (the operation says it).
        if label == "GET /api/cas/{sha256}":
            assume(not {"thumbnail", "content_type"} <= set(case.query or {}))
        checks_here = CHECKS
        if label in FETCHES_URLS | CONTEXT_DEPENDENT:
            checks_here = [c for c in CHECKS if c is not checks.positive_data_acceptance]
        if label in NOT_AVAILABLE:
            accepted = (checks.not_a_server_error, checks.positive_data_acceptance)
            checks_here = [c for c in CHECKS if c not in accepted]
        response = case.call_and_validate(checks=checks_here)
        if label in NOT_AVAILABLE:
            code = response.json()["code"]
            assert (response.status_code, code) in (
                (501, "AI_NOT_AVAILABLE"),
                (400, "MALFORMED_JSON"),
            )

    try:
        run()
    finally:
        if label == FORCES_ERRORS:
            _drop_forced_error(fuzz_app)


#: The operation that makes the next ``GET /api/auth/self`` fail (on purpose): its pending error
#: is dropped after fuzzing it, so that the fuzzing of ``/api/auth/self`` never meets it.
FORCES_ERRORS = "POST /api/testing/auth/force-error"


def _drop_forced_error(app) -> None:
    from core.testing_mode.forced_errors import AUTH_SELF, take_forced_error

    with app.app_context():
        take_forced_error(AUTH_SELF)
