"""Fixtures for URL fetching: a local server, settings allowing only it, and network guards.

Every test here runs with two guards (autouse):

* ``socket.getaddrinfo`` resolves numeric hosts only (``2130706433`` included, as the C library
  does) and names from the ``fake_dns`` fixture; any other name is "not found". No test sends a
  DNS query.
* ``socket.socket.connect`` refuses every address but 127.0.0.1 (see ``connectable``) and
  records each attempt in the ``connections`` fixture, so a test can assert that a blocked URL
  was never connected to.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from storage_drivers.local import LocalDriver
from tests.urlfetch.server import LocalHttpServer

ALLOWED_TEST_ADDRESS = "127.0.0.1"


@pytest.fixture
def fake_dns() -> dict[str, list[str]]:
    """Host name -> addresses the guarded resolver answers (add entries in a test)."""
    return {}


@pytest.fixture
def connectable() -> set[str]:
    """Addresses sockets may connect to (only the test server's 127.0.0.1 unless a test adds)."""
    return {ALLOWED_TEST_ADDRESS}


@pytest.fixture
def connections() -> list[tuple[Any, ...]]:
    """Every address a socket tried to connect to during the test."""
    return []


@pytest.fixture(autouse=True)
def network_guard(
    monkeypatch: pytest.MonkeyPatch,
    fake_dns: dict[str, list[str]],
    connections: list[tuple[Any, ...]],
    connectable: set[str],
) -> None:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(
        host: Any,
        port: Any,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name in fake_dns:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in fake_dns[name]
            ]
        try:
            return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    def connect(self: socket.socket, address: Any) -> None:
        connections.append(tuple(address) if isinstance(address, tuple) else (address,))
        if not isinstance(address, tuple) or address[0] not in connectable:
            raise AssertionError(f"test tried to connect to {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    """A running local HTTP server (see :mod:`tests.urlfetch.server`)."""
    with LocalHttpServer() as running:
        yield running


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Overrides for ``settings``; override this fixture (or use ``make_settings``)."""
    return {}


@pytest.fixture
def make_settings(settings_overrides: dict[str, Any]) -> Any:
    """Build settings that allow only 127.0.0.1/32, with a 0.5 s timeout, plus overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "url_fetch_allow": ("127.0.0.1/32",),
            "url_fetch_timeout": 0.5,
            **settings_overrides,
            **overrides,
        }
        return Settings(**values)

    return build


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    settings: Settings = make_settings()
    return settings


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[LocalDriver]:
    driver = LocalDriver.from_url(f"file://{tmp_path / 'blobs'}")
    yield driver
    driver.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate (its own CA) for ``shop.example.test``, and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=shop.example.test",
            "-addext", "subjectAltName=DNS:shop.example.test",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_server(tls_files: tuple[str, str]) -> Iterator[LocalHttpServer]:
    """A local HTTPS server presenting the ``tls_files`` certificate."""
    with LocalHttpServer(tls_cert_file=tls_files[0], tls_key_file=tls_files[1]) as running:
        yield running
