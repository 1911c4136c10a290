"""``bench.upload_floor:app``: the floor under the dedup figure of :mod:`bench.remote`.

An app that reads a request body and hashes it (SHA-256, as an upload must), and does nothing
else: no multipart parsing, no spool, no database. It runs behind the same server stack as
``partsbin serve`` (gunicorn with :class:`core.events.worker.PartsbinWorker`, the
:class:`~core.events.bridge.WsgiBridge` with 8 threads), so what the same client reaches against it
is the most any upload of those bytes can reach on this machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from core.events.bridge import WsgiBridge

READ_BYTES = 1024 * 1024


def read_and_hash(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer 201 with the hex SHA-256 of the request body (a ``GET``: 200, to poll for)."""
    if environ["REQUEST_METHOD"] == "GET":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    hasher = hashlib.sha256()
    stream = environ["wsgi.input"]
    while chunk := stream.read(READ_BYTES):
        hasher.update(chunk)
    body = hasher.hexdigest().encode()
    start_response("201 Created", [("Content-Type", "text/plain"),
                                   ("Content-Length", str(len(body)))])
    return [body]


app = WsgiBridge(read_and_hash, threads=8)
