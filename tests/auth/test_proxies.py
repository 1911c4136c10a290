"""Forwarded headers count only from ``PARTSBIN_TRUSTED_PROXIES``."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from core.auth.proxies import TrustedProxies


def _seen(networks: list[str], remote: str, headers: dict[str, str]) -> dict[str, Any]:
    app = Flask("probe")

    @app.get("/")
    def probe() -> Any:
        return jsonify({"scheme": request.scheme, "host": request.host})

    app.wsgi_app = TrustedProxies(app.wsgi_app, networks)  # type: ignore[method-assign]
    response = app.test_client().get("/", headers=headers, environ_base={"REMOTE_ADDR": remote})
    return response.get_json()


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "parts.example.org"}


def test_a_trusted_proxy_sets_scheme_and_host() -> None:
    seen = _seen(["10.0.0.0/8"], "10.1.2.3", FORWARDED)
    assert seen == {"scheme": "https", "host": "parts.example.org"}


def test_anyone_else_is_ignored() -> None:
    seen = _seen(["10.0.0.0/8"], "192.0.2.1", FORWARDED)
    assert seen == {"scheme": "http", "host": "localhost"}


def test_the_value_the_proxy_added_wins_over_what_the_client_sent() -> None:
    headers = {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, parts.lan"}
    assert _seen(["10.0.0.0/8"], "10.0.0.1", headers) == {"scheme": "https", "host": "parts.lan"}


def test_a_malformed_forwarded_host_is_ignored() -> None:
    headers = {"X-Forwarded-Host": "evil.example/path?x=1"}
    assert _seen(["10.0.0.0/8"], "10.0.0.1", headers)["host"] == "localhost"
