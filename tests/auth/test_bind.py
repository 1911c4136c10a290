"""The safe default: with no authentication configured, serve only on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.auth.bind import unsafe_bind_refusal
from core.config import Settings

PARTSBIN = str(Path(sys.executable).with_name("partsbin"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_the_default_serves_on_loopback(host: str) -> None:
    assert unsafe_bind_refusal(Settings(), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "parts.lan"])
def test_the_default_refuses_other_addresses(host: str) -> None:
    message = unsafe_bind_refusal(Settings(), host)
    assert message is not None
    assert "PARTSBIN_AUTH=oidc" in message and "PARTSBIN_AUTH=none explicitly" in message


def test_an_explicit_none_may_serve_anywhere() -> None:
    assert unsafe_bind_refusal(Settings(auth="none"), "0.0.0.0") is None


def test_oidc_may_serve_anywhere() -> None:
    settings = Settings(auth="oidc", oidc_issuer="https://id.example", oidc_client_id="partsbin")
    assert unsafe_bind_refusal(settings, "0.0.0.0") is None


def test_serve_refuses_to_start_on_all_addresses_without_auth(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTSBIN_")}
    env.update(
        PARTSBIN_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}",
        PARTSBIN_STORAGE_URL=f"file://{tmp_path / 'blobs'}",
    )
    result = subprocess.run(
        [PARTSBIN, "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0 without authentication" in result.stderr
