"""Fixtures for the deployment tests: the nginx site configuration of docs/deploy.md, a fresh
PostgreSQL database and an S3 prefix of their own."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.testing.servers.postgres import PostgresServer
from core.testing.servers.seaweedfs import SeaweedServer
from tests.storage.targets import remote_url

REPO = Path(__file__).resolve().parents[2]
#: The nginx site configuration docs/deploy.md shows; the tests run nginx with this very file.
NGINX_SITE = REPO / "examples" / "deploy" / "nginx" / "partsbin.conf"
#: The upstream addresses and paths the file is written with, which a test run replaces.
SITE_LISTEN = "listen 80;"
SITE_UPSTREAMS = ("server 127.0.0.1:8001 ", "server 127.0.0.1:8002 ")
SITE_LOG_FOLDER = "/var/log/nginx/"
SITE_UI_ROOT = "/srv/partsbin-ui"
ACCESS_LOG = "partsbin.access.log"


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    assert count == 1, f"{NGINX_SITE.name} should contain {old!r} exactly once, not {count} times"
    return text.replace(old, new)


def site_config(port: int, upstreams: tuple[str, str], log_folder: Path) -> str:
    """The site file with the test's listen port, upstream ``host:port`` pair and log folder.

    Fails (instead of silently testing something else) if the file no longer has the lines the
    substitution expects.
    """
    text = NGINX_SITE.read_text()
    text = _replace_once(text, SITE_LISTEN, f"listen 127.0.0.1:{port};")
    for written, actual in zip(SITE_UPSTREAMS, upstreams, strict=True):
        text = _replace_once(text, written, f"server {actual} ")
    return _replace_once(text, SITE_LOG_FOLDER, f"{log_folder}/")


_PROXY_ROOT_BLOCK = "    location / {\n        proxy_pass http://partsbin;\n    }\n"
_UI_BLOCK = re.compile(r"^    #(location / \{\n(?:    #.*\n)*?)    #\}\n", re.MULTILINE)


def with_ui_bundle(site: str, root: Path) -> str:
    """``site`` with the commented UI-bundle option turned on, as docs/deploy.md tells one to."""
    site = _replace_once(site, _PROXY_ROOT_BLOCK, "")
    blocks = _UI_BLOCK.findall(site)
    assert len(blocks) == 1, f"{NGINX_SITE.name} should hold one commented 'location /' block"
    enabled = _UI_BLOCK.sub(
        lambda m: "    " + m.group(1).replace("\n    #", "\n    ") + "    }\n", site
    )
    return _replace_once(enabled, SITE_UI_ROOT, str(root))


def read_access_log(folder: Path) -> list[dict]:
    """The JSON lines nginx wrote to the site's access log so far."""
    path = folder / ACCESS_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def logged_line(folder: Path, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
    """The first access-log line matching ``predicate``, waiting (bounded) for nginx to write it:
    nginx logs a request just after its answer is sent, so the client may read first."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in read_access_log(folder) if predicate(line)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no access-log line matched within {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the suite's PostgreSQL server."""
    name = f"deploy_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def s3_storage_url(s3_server: SeaweedServer, s3_bucket: str, s3_prefix: str) -> str:
    """The suite's S3 bucket, under a key prefix of this test's own (so ``gc`` sees only it)."""
    return remote_url("s3", s3_server, s3_bucket, s3_prefix)
