"""Roles from the provider's claims, and the auth settings' checks."""

from __future__ import annotations

import pytest

from core.auth.oidc import claim_value, map_roles
from core.config import ConfigError, load_settings


def test_provider_reader_and_editor_count_as_themselves() -> None:
    assert map_roles(["editor"], {}) == ("reader", "editor")
    assert map_roles(["reader", "somethingelse"], {}) == ("reader",)
    assert map_roles("reader editor", {}) == ("reader", "editor")
    assert map_roles(None, {}) == ()


def test_a_role_map_translates_provider_roles() -> None:
    mapping = {"partsbin-admins": "editor", "staff": "reader"}
    assert map_roles(["staff"], mapping) == ("reader",)
    assert map_roles(["partsbin-admins"], mapping) == ("reader", "editor")
    assert map_roles(["editor"], mapping) == ()  # with a map, only mapped names count


def test_dotted_claims_walk_into_objects() -> None:
    claims = {"realm_access": {"roles": ["editor"]}, "groups": "staff"}
    assert claim_value(claims, "realm_access.roles") == ["editor"]
    assert claim_value(claims, "groups.name") is None
    assert claim_value(claims, "missing") is None


def test_role_map_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_OIDC_ROLE_MAP", "partsbin-editors=editor, everyone=reader")
    assert load_settings().oidc_role_map == {"partsbin-editors": "editor", "everyone": "reader"}


def test_a_role_map_to_an_unknown_role_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_OIDC_ROLE_MAP", "admins=admin")
    with pytest.raises(ConfigError, match="PARTSBIN_OIDC_ROLE_MAP"):
        load_settings()


def test_oidc_needs_an_issuer_and_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_AUTH", "oidc")
    with pytest.raises(ConfigError, match="PARTSBIN_OIDC_ISSUER and PARTSBIN_OIDC_CLIENT_ID"):
        load_settings()


def test_trusted_proxies_must_be_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_TRUSTED_PROXIES", "10.0.0.0/8, proxy.lan")
    with pytest.raises(ConfigError, match="PARTSBIN_TRUSTED_PROXIES"):
        load_settings()
