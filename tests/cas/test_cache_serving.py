"""``/api/cas`` on S3 through the read-through cache: hits need no S3 request, /metrics counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from core.state import get_state
from storage_drivers.cache import CachingDriver
from tests.cas.conftest import png, put_blob
from tests.storage.counting import CountingDriver
from tests.storage.targets import remote_url

pytestmark = pytest.mark.s3


@pytest.fixture
def cached_app(
    make_cas_app: Callable[..., Flask], s3_server, s3_bucket: str, s3_prefix: str, tmp_path: Path
) -> Flask:
    return make_cas_app(
        storage_url=remote_url("s3", s3_server, s3_bucket, s3_prefix),
        cache_dir=str(tmp_path / "cache"),
    )


def s3_calls(app: Flask) -> CountingDriver:
    """Count what the cache asks S3 from now on."""
    reader = get_state(app).read_storage
    assert isinstance(reader, CachingDriver)
    if not isinstance(reader.inner, CountingDriver):
        reader.inner = CountingDriver(reader.inner)
    reader.inner.reset()
    return reader.inner


def metric(app: Flask, name: str) -> int:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    match = re.search(rf"^partsbin_cache_{name}_total{{pid=\"\d+\"}} (\d+)$", text, re.M)
    assert match, text
    return int(match.group(1))


def test_a_second_get_ranges_and_head_are_served_from_the_cache(cached_app: Flask) -> None:
    data = png(120, 80)
    blob = put_blob(cached_app, data)
    client = cached_app.test_client()
    assert client.get(f"/api/cas/{blob.sha256}").data == data  # miss: fills the cache
    calls = s3_calls(cached_app)

    whole = client.get(f"/api/cas/{blob.sha256}")
    ranged = client.get(f"/api/cas/{blob.sha256}", headers={"Range": "bytes=5-24"})
    head = client.head(f"/api/cas/{blob.sha256}")

    assert whole.status_code == 200 and whole.data == data
    assert whole.headers["Content-Type"] == "image/png"
    assert ranged.status_code == 206 and ranged.data == data[5:25]
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    assert calls.calls == {}
    assert metric(cached_app, "hits") >= 3
    assert metric(cached_app, "fills") == 1


def test_a_warm_thumbnail_is_served_without_asking_s3(cached_app: Flask) -> None:
    blob = put_blob(cached_app, png(300, 200))
    client = cached_app.test_client()
    first = client.get(f"/api/cas/{blob.sha256}?thumbnail=50")
    assert first.status_code == 200
    calls = s3_calls(cached_app)

    again = client.get(f"/api/cas/{blob.sha256}?thumbnail=50")

    assert again.status_code == 200 and again.data == first.data
    assert calls.calls == {}


def test_metrics_say_whether_a_cache_is_on(make_cas_app: Callable[..., Flask]) -> None:
    response = make_cas_app().test_client().get("/metrics")  # local storage: no cache
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    assert re.search(r'^partsbin_cache_enabled{pid="\d+"} 0$', text, re.M)
