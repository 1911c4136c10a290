"""API tokens: ``partsbin tokens create|list|revoke`` and ``Authorization: Bearer``."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.testing import FlaskClient

from core.auth.models import ApiToken
from core.state import get_state
from tests.auth.conftest import bearer

PARTSBIN = str(Path(sys.executable).with_name("partsbin"))


def cli(app: Flask, *args: str) -> Any:
    """Run ``partsbin ARGS`` in ``app``, with the commands its plugins register (as the real
    ``partsbin`` does)."""
    group = click.Group("partsbin")
    get_state(app).plugin_manager.hook.register_commands(cli=group)
    return app.test_cli_runner().invoke(group, args=list(args))


def _create(app: Flask, *args: str) -> str:
    result = cli(app, "tokens", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_create_prints_a_token_that_works(oidc_app: Flask, oidc_client: FlaskClient) -> None:
    token = _create(oidc_app, "--name", "ci", "--role", "editor")
    assert token.startswith("pbt_")
    response = oidc_client.get("/api/auth/self", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json() == {
        "subject": "token:ci",
        "email": None,
        "name": "ci",
        "roles": ["reader", "editor"],
    }


def test_only_the_hash_is_stored(oidc_app: Flask) -> None:
    token = _create(oidc_app, "--name", "ci", "--role", "reader")
    with oidc_app.app_context():
        row = ApiToken.get(ApiToken.name == "ci")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.name)


def test_list_shows_name_role_dates_and_last_use(oidc_app: Flask, oidc_client: FlaskClient) -> None:
    token = _create(oidc_app, "--name", "backup", "--role", "reader", "--expires", "90d")
    before = cli(oidc_app, "tokens", "list").output
    assert "backup" in before and "reader" in before
    assert before.count("never") == 1  # not used yet; it does expire
    oidc_client.get("/api/parts", headers=bearer(token))
    after = cli(oidc_app, "tokens", "list").output
    assert "never" not in after
    with oidc_app.app_context():
        row = ApiToken.get(ApiToken.name == "backup")
    assert row.expires_at - row.created_at == dt.timedelta(days=90)
    assert row.last_used_at is not None


def test_a_revoked_token_is_401(oidc_app: Flask, oidc_client: FlaskClient) -> None:
    token = _create(oidc_app, "--name", "old", "--role", "editor")
    assert oidc_client.get("/api/parts", headers=bearer(token)).status_code == 200
    result = cli(oidc_app, "tokens", "revoke", "old")
    assert result.exit_code == 0, result.output
    response = oidc_client.get("/api/parts", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["code"] == "INVALID_TOKEN"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401(oidc_app: Flask, oidc_client: FlaskClient) -> None:
    token = _create(oidc_app, "--name", "short", "--role", "editor", "--expires", "1h")
    with oidc_app.app_context():
        ApiToken.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    assert oidc_client.get("/api/parts", headers=bearer(token)).status_code == 401


def test_an_unknown_token_is_401(oidc_client: FlaskClient) -> None:
    assert oidc_client.get("/api/parts", headers=bearer("pbt_" + "a" * 43)).status_code == 401
    assert (
        oidc_client.get("/api/parts", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code
        == 401
    )


def test_bearer_requests_are_not_subject_to_the_origin_check(
    oidc_client: FlaskClient, tokens: dict[str, str]
) -> None:
    response = oidc_client.post(
        "/api/parts",
        json={"description": "from CI"},
        headers={**bearer(tokens["editor"]), "Origin": "https://ci.example"},
    )
    assert response.status_code == 201


def test_names_are_unique_and_checked(oidc_app: Flask) -> None:
    _create(oidc_app, "--name", "ci", "--role", "editor")
    taken = cli(oidc_app, "tokens", "create", "--name", "ci", "--role", "reader")
    assert taken.exit_code != 0 and "exists" in taken.output
    bad = cli(oidc_app, "tokens", "create", "--name", "a b", "--role", "reader")
    assert bad.exit_code != 0 and "not a token name" in bad.output
    duration = cli(
        oidc_app, "tokens", "create", "--name", "x", "--role", "reader", "--expires", "soon"
    )
    assert duration.exit_code != 0 and "duration" in duration.output


def test_revoking_an_unknown_token_fails(oidc_app: Flask) -> None:
    result = cli(oidc_app, "tokens", "revoke", "nope")
    assert result.exit_code != 0 and "no token named 'nope'" in result.output


def test_the_partsbin_command_has_tokens(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path / 'blobs'}",
    }

    def partsbin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PARTSBIN, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    assert partsbin("migrate").returncode == 0
    created = partsbin("tokens", "create", "--name", "nightly", "--role", "reader")
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"pbt_[A-Za-z0-9_\-]{43}\n", created.stdout)  # the token, alone
    assert "shown only once" in created.stderr
    listed = partsbin("tokens", "list")
    assert "nightly" in listed.stdout and created.stdout.strip() not in listed.stdout
