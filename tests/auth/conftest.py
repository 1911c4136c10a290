"""Fixtures for the auth tests: a real OpenID Connect provider, apps in ``oidc`` mode, API
tokens, and a helper that signs a user in by following the real redirects.

Test clients talk to the app as ``http://localhost`` (Flask's default), so the provider has
``http://localhost/api/auth/callback`` registered as the client's redirect URI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from core.app import create_app
from core.auth.tokens import create_token
from core.db import close_database
from core.migrate import apply_migrations
from core.state import get_state
from tests.servers.oidc_provider import OidcProvider

APP_ORIGIN = "http://localhost"
CALLBACK = f"{APP_ORIGIN}/api/auth/callback"


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """The oidc-provider server on 127.0.0.1 (installed into the test cache on first use)."""
    provider = OidcProvider(redirect_uris=[CALLBACK], logout_uris=[f"{APP_ORIGIN}/"])
    try:
        provider.start()
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def oidc_config(app_config: dict[str, Any], oidc_provider: OidcProvider) -> dict[str, Any]:
    """Settings of an app signing in through the test provider."""
    return {
        **app_config,
        "auth": "oidc",
        "oidc_issuer": oidc_provider.issuer,
        "oidc_client_id": oidc_provider.client_id,
        "oidc_client_secret": oidc_provider.client_secret,
        "oidc_scopes": "openid profile email offline_access",
    }


def build_app(config: dict[str, Any], plugins: list[object] | None = None) -> Flask:
    app = create_app(config, plugins=plugins or [])
    app.config["TESTING"] = True
    with app.app_context():
        apply_migrations(get_state(app))
    return app


def close_app(app: Flask) -> None:
    state = get_state(app)
    close_database(state.database)
    state.storage.close()


@pytest.fixture
def oidc_app(oidc_config: dict[str, Any], app_plugins: list[object]) -> Iterator[Flask]:
    app = build_app(oidc_config, app_plugins)
    yield app
    close_app(app)


@pytest.fixture
def oidc_client(oidc_app: Flask) -> FlaskClient:
    return oidc_app.test_client()


@pytest.fixture
def tokens(oidc_app: Flask) -> dict[str, str]:
    """``{"reader": token, "editor": token}``: API tokens of the ``oidc_app``."""
    with oidc_app.app_context():
        return {role: create_token(f"test-{role}", role).secret for role in ("reader", "editor")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_FORM = re.compile(r"<form[^>]*action=\"([^\"]+)\"[^>]*>(.*?)</form>", re.S | re.I)
_INPUT = re.compile(r"<input[^>]*>", re.I)
_ATTR = re.compile(r"(\w+)=\"([^\"]*)\"")


def _form_fields(html: str) -> tuple[str, dict[str, str]]:
    match = _FORM.search(html)
    assert match, f"no form on the provider's page:\n{html[:2000]}"
    fields: dict[str, str] = {}
    for tag in _INPUT.findall(match.group(2)):
        attrs = dict(_ATTR.findall(tag))
        if "name" in attrs:
            fields[attrs["name"]] = unescape(attrs.get("value", ""))
    return unescape(match.group(1)), fields


def provider_round_trip(
    authorize_url: str, user: str, browser: requests.Session | None = None
) -> str:
    """Follow the provider's pages from ``authorize_url`` as a browser would, submitting its
    login form as ``user``; return the URL it finally sends the browser to (the callback)."""
    browser = browser or requests.Session()
    url = authorize_url
    response = browser.get(url, allow_redirects=False, timeout=10)
    for _ in range(20):
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(browser_issuer(authorize_url)):
                return url
            response = browser.get(url, allow_redirects=False, timeout=10)
            continue
        assert response.status_code == 200, response.text[:2000]
        action, fields = _form_fields(response.text)
        if "login" in fields:
            fields.update(login=user, password="any password")
        url = urljoin(url, action)
        response = browser.post(url, data=fields, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back")


def browser_issuer(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(client: FlaskClient, user: str, redirect: str = "/parts") -> Any:
    """Sign ``user`` in through ``client``'s app and the real provider; return the callback's
    response (a redirect with the session cookie set in ``client``)."""
    start = client.get("/api/auth/login", query_string={"redirect": redirect})
    assert start.status_code == 302, start.get_data(as_text=True)
    callback = provider_round_trip(start.headers["Location"], user)
    assert callback.startswith(CALLBACK), callback
    parts = urlsplit(callback)
    return client.get(parts.path, query_string=parts.query)
