"""Two real ``partsbin serve`` instances on one database share sign-ins (a browser signs in
through one and is signed in on the other), over real HTTP."""

from __future__ import annotations

from pathlib import Path

import requests

from core.testing.servers.live_server import LiveServer
from tests.auth.conftest import provider_round_trip
from tests.servers.oidc_provider import OidcProvider


def test_a_session_started_on_one_instance_works_on_another(tmp_path: Path) -> None:
    settings = {
        "PARTSBIN_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "PARTSBIN_STORAGE_URL": f"file://{tmp_path / 'blobs'}",
        "PARTSBIN_AUTH": "oidc",
        "PARTSBIN_DB_POOL_SIZE": "0",
    }
    first, second = LiveServer(settings, workers=1, threads=2), LiveServer(settings, workers=1)
    servers = (first, second)
    provider = OidcProvider(
        redirect_uris=[f"{s.url}/api/auth/callback" for s in servers],
        logout_uris=[f"{s.url}/" for s in servers],
    )
    with provider:
        oidc = {
            "PARTSBIN_OIDC_ISSUER": provider.issuer,
            "PARTSBIN_OIDC_CLIENT_ID": provider.client_id,
            "PARTSBIN_OIDC_CLIENT_SECRET": provider.client_secret,
        }
        for server in servers:
            server.settings.update(oidc)
        with first, second:
            browser = requests.Session()
            start = browser.get(
                f"{first.url}/api/auth/login",
                params={"redirect": "/"},
                allow_redirects=False,
                timeout=10,
            )
            assert start.status_code == 302, start.text
            callback = provider_round_trip(start.headers["Location"], "editor", browser)
            assert callback.startswith(f"{first.url}/api/auth/callback")
            finished = browser.get(callback, allow_redirects=False, timeout=10)
            assert finished.status_code == 302, finished.text
            assert finished.headers["Location"] == "/"

            # Cookies are not port-specific: the browser sends the session to the second one.
            me = browser.get(f"{second.url}/api/auth/self", timeout=10)
            assert me.status_code == 200, me.text
            assert me.json()["name"] == "Erin Editor"
            created = browser.post(
                f"{second.url}/api/parts",
                json={"description": "made through the other instance"},
                headers={"Origin": second.url},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            anonymous = requests.get(f"{second.url}/api/parts", timeout=10)
            assert anonymous.status_code == 401
