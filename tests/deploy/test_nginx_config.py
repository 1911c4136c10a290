"""The nginx site file of docs/deploy.md: shown verbatim in the guide, its UI-bundle option, its
body limit and its streaming of uploads, on a real nginx in front of `partsbin serve`."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from PIL import Image

from core.config import load_settings
from core.testing.servers.live_server import LiveServer, partsbin_executable
from core.testing.servers.nginx import NginxServer
from tests.deploy.conftest import NGINX_SITE, REPO, logged_line, site_config, with_ui_bundle

INDEX_HTML = "<!doctype html><title>Partsbin UI</title><div id=app></div>\n"
APP_JS = "console.log('partsbin ui');\n"


EXAMPLES = REPO / "examples" / "deploy"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_the_deploy_guide_shows_each_example_file_verbatim(example: Path) -> None:
    guide = (REPO / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", guide, re.DOTALL | re.MULTILINE)

    assert example.read_text() in blocks, (
        f"docs/deploy.md must show {example.relative_to(REPO)} verbatim in a fenced block"
    )


def test_the_site_file_is_among_the_examples_the_guide_shows() -> None:
    assert NGINX_SITE in EXAMPLE_FILES


def test_the_example_environment_file_is_a_valid_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = (REPO / "README.md").read_text()
    values = {}
    for line in (EXAMPLES / "partsbin.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert f"| `{name}` |" in readme, f"{name} is not in README.md's configuration table"
            values[name] = value
            monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.database_url == values["PARTSBIN_DATABASE_URL"]
    assert settings.storage_url == values["PARTSBIN_STORAGE_URL"]
    assert (settings.host, settings.workers, settings.threads) == ("127.0.0.1", 2, 4)


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    executable = partsbin_executable()
    for unit in (EXAMPLES / "systemd").iterdir():
        # verify checks that ExecStart exists: point it at this environment's partsbin.
        text = unit.read_text().replace("/opt/partsbin/.venv/bin/partsbin", executable)
        (tmp_path / unit.name).write_text(text)
    units = [
        str(tmp_path / name)
        for name in (
            "partsbin@8001.service",
            "partsbin-migrate.service",
            "partsbin-gc.service",
            "partsbin-gc.timer",
        )
    ]

    result = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )

    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line
    ]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


@dataclass
class Deployment:
    nginx: NginxServer
    partsbin: LiveServer
    ui_root: Path


@pytest.fixture(scope="module")
def ui_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One `partsbin serve` (SQLite) behind nginx with the UI-bundle option turned on."""
    folder = tmp_path_factory.mktemp("ui-deploy")
    ui_root = folder / "ui"
    (ui_root / "assets").mkdir(parents=True)
    (ui_root / "index.html").write_text(INDEX_HTML)
    (ui_root / "assets" / "app.js").write_text(APP_JS)
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{folder}/partsbin.db",
        "PARTSBIN_STORAGE_URL": f"file://{folder}/blobs",
        "PARTSBIN_LOG_LEVEL": "WARNING",
    }
    with LiveServer(settings, workers=1, threads=4) as partsbin:
        address = f"127.0.0.1:{partsbin.port}"

        def http_block(port: int, log_folder: Path) -> str:
            return with_ui_bundle(site_config(port, (address, address), log_folder), ui_root)

        with NginxServer(http_block) as nginx:
            yield Deployment(nginx, partsbin, ui_root)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def test_the_ui_bundle_option_serves_index_html_at_the_root(ui_deployment, http) -> None:
    response = http.get(f"{ui_deployment.nginx.url}/", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == INDEX_HTML


def test_the_ui_bundle_option_serves_the_bundle_files(ui_deployment, http) -> None:
    response = http.get(f"{ui_deployment.nginx.url}/assets/app.js", timeout=10)

    assert response.status_code == 200
    assert response.text == APP_JS


def test_the_ui_bundle_option_answers_index_html_for_the_apps_own_routes(
    ui_deployment, http
) -> None:
    response = http.get(f"{ui_deployment.nginx.url}/parts/42/edit", timeout=10)

    assert response.status_code == 200
    assert response.text == INDEX_HTML


def test_the_ui_bundle_option_keeps_the_api_and_health_proxied(ui_deployment, http) -> None:
    spec = http.get(f"{ui_deployment.nginx.url}/api/docs/openapi.json", timeout=10)
    ready = http.get(f"{ui_deployment.nginx.url}/health/readyz", timeout=10)
    missing = http.get(f"{ui_deployment.nginx.url}/api/no-such-thing", timeout=10)

    assert spec.status_code == 200 and spec.json()["openapi"].startswith("3.")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert missing.status_code == 404 and missing.json()["code"]


def test_a_body_over_the_nginx_limit_is_refused_before_partsbin_sees_it(ui_deployment) -> None:
    # 200 MiB announced, nothing sent: nginx answers from the header alone.
    with socket.create_connection(("127.0.0.1", ui_deployment.nginx.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/attachment-sets/1/attachments HTTP/1.1\r\nHost: partsbin\r\n"
            b"X-Request-ID: over-the-nginx-limit\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 209715200\r\n\r\n"
        )
        head = sock.recv(4096)

    assert head.startswith(b"HTTP/1.1 413 ")
    line = logged_line(
        ui_deployment.nginx.folder, lambda line: line["request_id"] == "over-the-nginx-limit"
    )
    assert line["status"] == 413 and line["upstream"] == ""


def test_an_image_over_partsbins_limit_gets_partsbins_413_through_nginx(
    ui_deployment, http
) -> None:
    base = ui_deployment.nginx.url
    part = http.post(f"{base}/api/parts", json={"description": "big photo"}, timeout=30)
    assert part.status_code == 201, part.text
    set_id = part.json()["attachment_set_id"]
    header = io.BytesIO()
    Image.new("RGB", (8, 8)).save(header, "PNG")
    # A PNG signature and 11 MiB: over PARTSBIN_MAX_IMAGE_BYTES (10 MiB), under nginx's limit.
    body = header.getvalue() + os.urandom(11 * 1024 * 1024)

    response = http.post(
        f"{base}/api/attachment-sets/{set_id}/attachments",
        files={"file": ("big.png", body)},
        data={"title": "big"},
        timeout=60,
    )

    assert response.status_code == 413
    assert response.json()["code"]


def test_nginx_gives_partsbin_and_its_log_one_request_id(ui_deployment, http) -> None:
    response = http.get(f"{ui_deployment.nginx.url}/health/healthz", timeout=10)

    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id
    logged_line(ui_deployment.nginx.folder, lambda line: line["request_id"] == request_id)
