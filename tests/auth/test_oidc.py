"""Signing in through a real OpenID Connect provider (oidc-provider on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.auth.models import AuthSession
from core.auth.sessions import SESSION_COOKIE
from core.testing.servers.process import free_ports
from tests.auth.conftest import build_app, close_app, sign_in


def _set_cookie(response: Any, name: str) -> SimpleCookie:
    for header in response.headers.getlist("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}")


def test_login_sends_the_browser_to_the_provider_with_pkce(oidc_client: FlaskClient) -> None:
    response = oidc_client.get("/api/auth/login?redirect=/parts")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"] and query["nonce"]
    assert query["redirect_uri"] == ["http://localhost/api/auth/callback"]


def test_editor_signs_in_and_comes_back_where_they_started(oidc_client: FlaskClient) -> None:
    response = sign_in(oidc_client, "editor", redirect="/parts?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/parts?page=2"
    me = oidc_client.get("/api/auth/self")
    assert me.status_code == 200
    assert me.get_json() == {
        "subject": "editor",
        "email": "erin@example.test",
        "name": "Erin Editor",
        "roles": ["reader", "editor"],
    }


def test_reader_is_a_reader_only(oidc_client: FlaskClient) -> None:
    sign_in(oidc_client, "reader")
    assert oidc_client.get("/api/auth/self").get_json()["roles"] == ["reader"]


def test_a_user_without_a_role_gets_403_from_self(oidc_client: FlaskClient) -> None:
    sign_in(oidc_client, "norole")
    response = oidc_client.get("/api/auth/self")
    assert response.status_code == 403
    assert response.get_json()["code"] == "NO_ROLE"
    assert oidc_client.get("/api/parts").status_code == 403


def test_session_cookie_is_httponly_lax_and_not_secure_over_http(
    oidc_client: FlaskClient,
) -> None:
    cookie = _set_cookie(sign_in(oidc_client, "editor"), SESSION_COOKIE)[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]
    assert cookie["path"] == "/"


def test_not_signed_in_is_401_with_a_challenge(oidc_client: FlaskClient) -> None:
    response = oidc_client.get("/api/auth/self")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="partsbin"')
    assert set(response.get_json()) == {"error", "details", "code"}


def test_a_forged_session_cookie_is_401(oidc_client: FlaskClient) -> None:
    oidc_client.set_cookie(SESSION_COOKIE, "x" * 43)
    response = oidc_client.get("/api/parts")
    assert response.status_code == 401
    assert response.get_json()["code"] == "SESSION_INVALID"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "http://localhost@evil.example/",
        "javascript:alert(1)",
        "http://localhost.evil.example/",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
def test_login_refuses_to_redirect_off_the_site(oidc_client: FlaskClient, target: str) -> None:
    response = oidc_client.get("/api/auth/login", query_string={"redirect": target})
    assert response.status_code == 400
    assert response.get_json()["code"] == "REDIRECT_NOT_ALLOWED"


def test_login_accepts_an_absolute_url_of_this_site(oidc_client: FlaskClient) -> None:
    response = sign_in(oidc_client, "reader", redirect="http://localhost/kits/3?tab=parts")
    assert response.headers["Location"] == "/kits/3?tab=parts"


def test_a_cross_origin_post_with_the_session_cookie_is_refused(
    oidc_client: FlaskClient,
) -> None:
    sign_in(oidc_client, "editor")
    response = oidc_client.post(
        "/api/parts", json={"description": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "CROSS_ORIGIN"
    cross_site = oidc_client.post(
        "/api/parts", json={"description": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403


def test_a_same_origin_post_with_the_session_cookie_is_served(oidc_client: FlaskClient) -> None:
    sign_in(oidc_client, "editor")
    response = oidc_client.post(
        "/api/parts",
        json={"description": "from the UI"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 201, response.get_json()


def test_another_instance_on_the_same_database_knows_the_session(
    oidc_app: Flask, oidc_config: dict[str, Any]
) -> None:
    first = oidc_app.test_client()
    sign_in(first, "editor")
    secret = first.get_cookie(SESSION_COOKIE).value
    second_app = build_app(oidc_config)  # a restart, or the next instance behind a balancer
    try:
        second = second_app.test_client()
        second.set_cookie(SESSION_COOKIE, secret)
        response = second.get("/api/auth/self")
        assert response.status_code == 200
        assert response.get_json()["subject"] == "editor"
    finally:
        close_app(second_app)


def test_logout_ends_the_session_and_signs_out_at_the_provider(
    oidc_client: FlaskClient, oidc_provider: Any
) -> None:
    sign_in(oidc_client, "editor")
    secret = oidc_client.get_cookie(SESSION_COOKIE).value
    response = oidc_client.get("/api/auth/logout?redirect=/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{oidc_provider.issuer}/session/end"
    )
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/"]
    assert query["id_token_hint"]
    oidc_client.set_cookie(SESSION_COOKIE, secret)  # a copy of the cookie is dead too
    assert oidc_client.get("/api/auth/self").status_code == 401


def test_an_expired_provider_token_is_refreshed_with_current_roles(oidc_app: Flask) -> None:
    client = oidc_app.test_client()
    sign_in(client, "editor")
    with oidc_app.app_context():
        before = AuthSession.get()
        assert before.refresh_token
        # The provider's tokens ran out, and the roles we hold are stale.
        AuthSession.update(token_expires_at=dt.datetime(2000, 1, 1), roles="reader").execute()
    response = client.get("/api/auth/self")
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["reader", "editor"]
    renewed = _set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE]  # the browser keeps it longer
    assert renewed.value == client.get_cookie(SESSION_COOKIE).value
    assert renewed["max-age"] == "86400"
    with oidc_app.app_context():
        after = AuthSession.get()
    assert after.token_expires_at > dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert after.expires_at >= before.expires_at


def test_a_refresh_the_provider_refuses_ends_the_session(oidc_app: Flask) -> None:
    client = oidc_app.test_client()
    sign_in(client, "editor")
    with oidc_app.app_context():
        AuthSession.update(
            token_expires_at=dt.datetime(2000, 1, 1), refresh_token="not-a-refresh-token"
        ).execute()
    assert client.get("/api/auth/self").status_code == 401
    with oidc_app.app_context():
        assert AuthSession.select().count() == 0


def test_an_unreachable_provider_leaves_the_session_alone(
    oidc_app: Flask, oidc_config: dict[str, Any]
) -> None:
    client = oidc_app.test_client()
    sign_in(client, "editor")
    with oidc_app.app_context():
        AuthSession.update(token_expires_at=dt.datetime(2000, 1, 1)).execute()
    (dead_port,) = free_ports(1)
    cut_off = build_app({**oidc_config, "oidc_issuer": f"http://127.0.0.1:{dead_port}"})
    try:
        other = cut_off.test_client()
        other.set_cookie(SESSION_COOKIE, client.get_cookie(SESSION_COOKIE).value)
        response = other.get("/api/auth/self")
        assert response.status_code == 200
        assert response.get_json()["roles"] == ["reader", "editor"]
        with cut_off.app_context():
            retry_at = AuthSession.get().token_expires_at
        assert retry_at > dt.datetime.now(dt.UTC).replace(tzinfo=None)  # not on every request
    finally:
        close_app(cut_off)


def test_an_expired_session_is_401(oidc_app: Flask) -> None:
    client = oidc_app.test_client()
    sign_in(client, "editor")
    with oidc_app.app_context():
        AuthSession.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    assert client.get("/api/auth/self").status_code == 401


def test_a_callback_from_another_browser_is_refused(oidc_client: FlaskClient) -> None:
    start = oidc_client.get("/api/auth/login?redirect=/")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    other_browser = oidc_client.application.test_client()
    response = other_browser.get(f"/api/auth/callback?code=abc&state={state}")
    assert response.status_code == 400
    assert response.get_json()["code"] == "LOGIN_STATE_MISMATCH"


def test_a_callback_with_a_bad_code_is_401(oidc_client: FlaskClient) -> None:
    start = oidc_client.get("/api/auth/login?redirect=/")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    response = oidc_client.get(f"/api/auth/callback?code=forged&state={state}")
    assert response.status_code == 401
    assert response.get_json()["code"] == "SIGN_IN_FAILED"


def test_secure_cookies_behind_a_trusted_https_proxy(
    oidc_config: dict[str, Any],
) -> None:
    app = build_app({**oidc_config, "trusted_proxies": ("127.0.0.1/32",)})
    try:
        client = app.test_client()
        trusted = client.get("/api/auth/login?redirect=/", headers={"X-Forwarded-Proto": "https"})
        assert _set_cookie(trusted, "partsbin_login")["partsbin_login"]["secure"] is True
        query = parse_qs(urlsplit(trusted.headers["Location"]).query)
        assert query["redirect_uri"] == ["https://localhost/api/auth/callback"]
        untrusted = client.get(
            "/api/auth/login?redirect=/",
            headers={"X-Forwarded-Proto": "https"},
            environ_base={"REMOTE_ADDR": "192.0.2.7"},
        )
        assert not _set_cookie(untrusted, "partsbin_login")["partsbin_login"]["secure"]
    finally:
        close_app(app)


def test_a_public_client_signs_in_with_pkce_alone(
    oidc_config: dict[str, Any], oidc_provider: Any
) -> None:
    config = {**oidc_config, "oidc_client_id": oidc_provider.public_client_id}
    config.pop("oidc_client_secret")
    app = build_app(config)
    try:
        client = app.test_client()
        assert sign_in(client, "reader").status_code == 302
        assert client.get("/api/auth/self").get_json()["subject"] == "reader"
    finally:
        close_app(app)


def test_pending_sign_ins_are_capped(
    oidc_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.auth.sessions.MAX_PENDING_LOGINS", 2)
    for _ in range(2):
        assert oidc_client.get("/api/auth/login?redirect=/").status_code == 302
    refused = oidc_client.get("/api/auth/login?redirect=/")
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "TOO_MANY_SIGN_INS"
