"""Schemathesis against the app's own OpenAPI document: no 5xx, responses match the schema.

Every operation gets a bounded number of generated requests (``FUZZ_EXAMPLES``, default 60),
against an app on SQLite with one part, one kit and one uploaded image so that some generated
ids hit real rows. URL attachments are fuzzed too; the suite-wide network guard keeps every
fetch on this machine.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from PIL import Image
from schemathesis import checks

from core.app import create_app
from core.migrate import apply_migrations
from core.state import get_state

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))

#: What the API promises: no 5xx; every status, content type, header and body as declared; and
#: schema-violating requests rejected with a 4xx. (Schemathesis' "positive data acceptance" is
#: left out: a schema-valid URL that cannot be fetched, or a key that does not exist, is
#: rightly refused with a 4xx the check does not expect.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        {
            "database_url": f"sqlite:///{folder}/fuzz.db",
            "storage_url": f"file://{folder}/blobs",
            "log_level": "ERROR",
            "url_fetch_timeout": 0.5,
        }
    )
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
    return app


def _build_schema():
    """The app's schema and its operations, built once at collection time."""
    return schemathesis.openapi.from_wsgi("/api/docs/openapi.json", _collection_app())


def _collection_app():
    import tempfile

    folder = tempfile.mkdtemp(prefix="partsbin-fuzz-schema-")
    return create_app(
        {"database_url": f"sqlite:///{folder}/s.db", "storage_url": f"file://{folder}/b"}
    )


#: Operations not fuzzed: the event stream never ends (tests/events covers it).
NOT_FUZZED = {"GET /api/sse/stream"}

OPERATIONS = sorted(
    label
    for label in (op.ok().label for op in _build_schema().get_all_operations())
    if label not in NOT_FUZZED
)


def test_every_route_is_in_the_schema() -> None:
    assert len(OPERATIONS) >= 30, OPERATIONS


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
        case.call_and_validate(checks=CHECKS)

    run()
