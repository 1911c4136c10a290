"""Conditional puts: a new small blob costs one S3 request, and servers without them still work."""

from __future__ import annotations

import http.server
import io
import os
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cas.ingest import CONDITIONAL_PUT_MAX_BYTES, store_spool
from core.cas.spool import IngestSpool
from core.testing.servers.seaweedfs import SeaweedServer
from storage_drivers.registry import BUILTIN_DRIVERS, open_storage
from storage_drivers.s3 import S3Driver
from tests.cas.conftest import pdf, png
from tests.storage.targets import remote_url

pytestmark = pytest.mark.s3


@pytest.fixture
def s3(s3_server: SeaweedServer, s3_bucket: str, s3_prefix: str) -> Iterator[S3Driver]:
    driver = open_storage(remote_url("s3", s3_server, s3_bucket, s3_prefix), BUILTIN_DRIVERS)
    assert isinstance(driver, S3Driver)
    yield driver
    driver.close()


def _calls(driver: S3Driver) -> list[str]:
    """The S3 operations the driver's client makes from now on, in order."""
    made: list[str] = []
    driver._client.meta.events.register(
        "before-call.s3", lambda model, **_: made.append(model.name)
    )
    return made


def _spool(data: bytes) -> IngestSpool:
    return IngestSpool(lambda _type: 10**9).fill_from(io.BytesIO(data))


def test_a_new_small_image_is_one_put_and_its_dedup_one_refused_put(s3: S3Driver) -> None:
    image = png(64, 32, "teal")
    calls = _calls(s3)
    with _spool(image) as spool:
        assert store_spool(s3, spool, max_pixels=10**6).stored is True
    assert calls == ["PutObject"]
    calls.clear()
    with _spool(image) as spool:
        blob = store_spool(s3, spool, max_pixels=10**6)
    assert blob.stored is False and calls == ["PutObject"]  # answered 412: already there
    assert b"".join(s3.open(blob.key)) == image


def test_a_pdf_is_looked_for_first_so_a_dedup_is_not_checked_again(s3: S3Driver) -> None:
    document = pdf()
    calls = _calls(s3)
    with _spool(document) as spool:
        assert store_spool(s3, spool, max_pixels=10**6).stored is True
    assert calls == ["HeadObject", "PutObject"]
    calls.clear()
    with _spool(document) as spool:
        assert store_spool(s3, spool, max_pixels=10**6).stored is False
    assert calls == ["HeadObject"]


def test_a_blob_over_the_limit_is_looked_for_first(s3: S3Driver) -> None:
    data = b"\x00partsbin " + os.urandom(CONDITIONAL_PUT_MAX_BYTES)
    calls = _calls(s3)
    with _spool(data) as spool:
        assert store_spool(s3, spool).stored is True
    assert calls == ["HeadObject", "PutObject"]


class _NoConditionalPuts(http.server.BaseHTTPRequestHandler):
    """An S3-like server that refuses ``If-None-Match`` on PUT with 501, as some do."""

    objects: dict[str, bytes] = {}
    refused = 0

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # the bucket check: an empty listing
        self._answer(
            200,
            b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
            b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name>'
            b"<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>",
        )

    def do_HEAD(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.count("/") == 1:  # the bucket
            self._answer(200)
            return
        body = self.objects.get(path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()

    def do_PUT(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("If-None-Match"):
            type(self).refused += 1
            self._answer(
                501,
                b"<Error><Code>NotImplemented</Code><Message>A header you provided implies "
                b"functionality that is not implemented</Message></Error>",
            )
            return
        self.objects[urllib.parse.urlsplit(self.path).path] = data
        self._answer(200)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_refusing_conditional_puts_gets_a_look_then_a_put(tmp_path: Path) -> None:
    _NoConditionalPuts.objects, _NoConditionalPuts.refused = {}, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoConditionalPuts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = urllib.parse.quote(f"http://127.0.0.1:{server.server_port}", safe="")
        driver = open_storage(
            f"s3://bucket?endpoint_url={endpoint}&access_key=a&secret_key=s", BUILTIN_DRIVERS
        )
        first, second = f"cas/{'1' * 64}", f"cas/{'2' * 64}"
        assert driver.put_if_absent(first, io.BytesIO(b"abc"), 3) is True
        assert driver.put_if_absent(first, io.BytesIO(b"abc"), 3) is False
        assert driver.put_if_absent(second, io.BytesIO(b"xyz"), 3) is True
    finally:
        server.shutdown()
    assert _NoConditionalPuts.objects == {f"/bucket/{first}": b"abc", f"/bucket/{second}": b"xyz"}
    assert _NoConditionalPuts.refused == 1  # asked once, then the driver looks first
