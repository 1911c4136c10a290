"""Settings: defaults, environment, overrides, errors, and the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.config import ConfigError, Settings, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"PARTSBIN_{name.upper()}", raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("data/partsbin.db")
    assert settings.storage_url.startswith("file:///")
    assert settings.storage_url.endswith("data/blobs")
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_PORT", "8123")
    monkeypatch.setenv("PARTSBIN_ALLOWED_TYPES", "image/png, application/pdf")
    settings = load_settings()
    assert settings.port == 8123
    assert settings.allowed_types == ("image/png", "application/pdf")


def test_explicit_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_PORT", "8123")
    assert load_settings({"port": 9000}).port == 9000


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PARTSBIN_PORT", "70000"), ("PARTSBIN_WORKERS", "zero"), ("PARTSBIN_LOG_LEVEL", "LOUD")],
)
def test_bad_value_names_the_variable(monkeypatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    documented = set(re.findall(r"^\|\s*`(PARTSBIN_[A-Z_]+)`", text, flags=re.MULTILINE))
    expected = {f"PARTSBIN_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from README.md"
    driver_variables = {"PARTSBIN_MINIO_ACCESS_KEY", "PARTSBIN_MINIO_SECRET_KEY"}
    assert documented - expected - driver_variables == set(), "README.md documents unknown settings"


def test_bad_url_fetch_allow_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTSBIN_URL_FETCH_ALLOW", "127.0.0.1/32, not-a-network")
    with pytest.raises(ConfigError, match=r"PARTSBIN_URL_FETCH_ALLOW.*not-a-network"):
        load_settings()
