"""Fixtures for the CAS tests: a database-less serving app, blob and image makers, timed storage.

``cas_app`` serves ``/api/cas`` with a database URL that points at a closed port: the endpoint is
stateless, so any database access would turn into a 503 and fail the test. GC tests use the
suite's ``app`` fixture (SQLite and PostgreSQL).
"""

from __future__ import annotations

import io
import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from core.app import create_app
from core.cas.ingest import StoredBlob, ingest
from core.state import get_state
from storage_drivers.base import BlobStat, StorageDriver
from storage_drivers.local import LocalDriver


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cas_config(storage_url: str) -> dict[str, Any]:
    """Settings of ``cas_app``: local storage and an unreachable database."""
    return {
        "database_url": f"postgresql://nobody@127.0.0.1:{closed_port()}/none",
        "db_timeout": 1,
        "storage_url": storage_url,
        "log_level": "WARNING",
    }


@pytest.fixture
def make_cas_app(cas_config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """Build apps on ``cas_config`` plus overrides; all are closed after the test."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app({**cas_config, **overrides}, load_entry_points=False)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        get_state(app).storage.close()


@pytest.fixture
def cas_app(make_cas_app: Callable[..., Flask]) -> Flask:
    return make_cas_app()


@pytest.fixture
def cas_client(cas_app: Flask) -> FlaskClient:
    return cas_app.test_client()


def put_blob(app: Flask, data: bytes) -> StoredBlob:
    """Store ``data`` in ``app``'s CAS."""
    return ingest(get_state(app).storage, io.BytesIO(data), lambda _type: 10**9)


@pytest.fixture
def put(cas_app: Flask) -> Callable[[bytes], StoredBlob]:
    """Store bytes in ``cas_app``'s CAS and return the blob."""
    return lambda data: put_blob(cas_app, data)


# --- images ---------------------------------------------------------------------------------


def image_bytes(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def png(width: int = 40, height: int = 20, color: Any = "red", mode: str = "RGB") -> bytes:
    return image_bytes(Image.new(mode, (width, height), color), "PNG")


def jpeg_with_orientation(width: int, height: int, orientation: int) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says to rotate it (6 = 90 degrees CW)."""
    image = Image.new("RGB", (width, height), "green")
    exif = Image.Exif()
    exif[0x0112] = orientation
    return image_bytes(image, "JPEG", exif=exif.tobytes())


def pdf(width: int = 300, height: int = 200, color: str = "red") -> bytes:
    """A one-page PDF whose page is ``width`` x ``height`` points, filled with ``color``."""
    return image_bytes(Image.new("RGB", (width, height), color), "PDF", resolution=72.0)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but carries almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.domain)</script></svg>"
)
HTML = b"<!doctype html><html><body><script>alert(document.domain)</script></body></html>"


# --- storage doubles ------------------------------------------------------------------------


class AgelessLocalDriver(LocalDriver):
    """The local driver, reporting no modification time at all (``modified=None``)."""

    def iter_keys(self, prefix: str = "") -> Iterator[BlobStat]:
        for found in super().iter_keys(prefix):
            yield BlobStat(found.key, found.size)


def use_timed_storage(app: Flask, root: Path) -> StorageDriver:
    """Give ``app`` a local driver on ``root`` that reports modification times."""
    driver: StorageDriver = LocalDriver(str(root))
    state = get_state(app)
    state.storage = state.read_storage = driver
    return driver
