"""Broker settings fail closed: no placeholder secret key, no IP as passkey RP id, TLS always."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from broker.config import Settings
from broker.errors import ConfigError
from certs.authority import ServerFiles
from devkit.broker import random_secret_key

pytestmark = pytest.mark.unit


def env(certs: ServerFiles, **overrides: str) -> dict[str, str]:
    values = {
        "MAMORI_SECRET_KEY": random_secret_key(),
        "MAMORI_TLS_CERT": str(certs.server_cert),
        "MAMORI_TLS_KEY": str(certs.server_key),
    }
    values.update(overrides)
    return values


def test_production_is_the_default_and_accepts_a_random_key(server_certs: ServerFiles) -> None:
    """Without MAMORI_ENV the broker runs as production, SQLite in ./data by default."""
    settings = Settings.from_env(env(server_certs))
    assert settings.environment == "production"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/data/mamori.db")
    assert (settings.idle_timeout_s, settings.session_lifetime_s) == (900, 43200)
    assert (settings.lockout_threshold, settings.lockout_window_s) == (5, 900)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "changeme",
        "secret",
        "not base64 !!",
        base64.urlsafe_b64encode(b"short").decode(),
        base64.urlsafe_b64encode(b"a" * 32).decode(),
    ],
    ids=["missing", "changeme", "secret", "not-base64", "short", "not-random"],
)
@pytest.mark.parametrize("environment", ["production", "dev"])
def test_placeholder_missing_or_weak_secret_keys_are_refused(
    server_certs: ServerFiles, key: str, environment: str
) -> None:
    """The broker does not start with a missing, placeholder, short or constant secret key,
    in production and in dev alike (dev gets a generated key from the demo instead)."""
    with pytest.raises(ConfigError, match="MAMORI_SECRET_KEY"):
        Settings.from_env(env(server_certs, MAMORI_SECRET_KEY=key, MAMORI_ENV=environment))


def test_tls_files_are_required(server_certs: ServerFiles, tmp_path: Path) -> None:
    """The broker never starts without its certificate and key."""
    with pytest.raises(ConfigError, match="MAMORI_TLS_CERT"):
        Settings.from_env(env(server_certs, MAMORI_TLS_CERT=str(tmp_path / "missing.pem")))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAMORI_ENV", "staging"),
        ("MAMORI_PORT", "eighty"),
        ("MAMORI_DATABASE_URL", "mysql://x"),
        ("MAMORI_PUBLIC_URL", "http://clinic.example"),
        ("MAMORI_RP_ID", "127.0.0.1"),
        ("MAMORI_IDLE_TIMEOUT_S", "0"),
        ("MAMORI_LOCKOUT_THRESHOLD", "many"),
    ],
)
def test_typos_and_unsafe_values_are_refused(
    server_certs: ServerFiles, name: str, value: str
) -> None:
    """Typos and unsafe values are errors naming the variable, not silent defaults."""
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env(server_certs, **{name: value}))


def test_settings_come_from_the_environment(server_certs: ServerFiles) -> None:
    """Every limit is a setting (MHLW.md rows 7 and 8)."""
    settings = Settings.from_env(
        env(
            server_certs,
            MAMORI_DATABASE_URL="postgresql+asyncpg://mamori@db/mamori",
            MAMORI_IDLE_TIMEOUT_S="600",
            MAMORI_SESSION_LIFETIME_S="28800",
            MAMORI_LOCKOUT_THRESHOLD="3",
            MAMORI_PUBLIC_URL="https://remote.clinic.example",
            MAMORI_RP_ID="remote.clinic.example",
        )
    )
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert (settings.idle_timeout_s, settings.session_lifetime_s) == (600, 28800)
    assert settings.lockout_threshold == 3
    assert settings.origin() == "https://remote.clinic.example"


def test_agent_port_settings_default_to_tls_1_3_and_90_day_certificates(
    server_certs: ServerFiles,
) -> None:
    """The agent port is 8444 on the broker's address, TLS 1.3 only, 90-day certificates;
    agents are told the public host name with that port."""
    settings = Settings.from_env(env(server_certs, MAMORI_HOST="0.0.0.0"))
    assert (settings.agent_host, settings.agent_port) == ("0.0.0.0", 8444)
    assert settings.agent_tls12 is False
    assert settings.agent_cert_lifetime_s == 90 * 24 * 3600
    assert settings.agent_url() == "wss://localhost:8444"
    tls12 = Settings.from_env(
        env(server_certs, MAMORI_AGENT_TLS12="on", MAMORI_AGENT_PUBLIC_URL="wss://gw.example:9")
    )
    assert tls12.agent_tls12 is True
    assert tls12.agent_url(1234) == "wss://gw.example:9"


@pytest.mark.parametrize(
    "overrides",
    [
        {"MAMORI_AGENT_PORT": "8443"},
        {"MAMORI_AGENT_PUBLIC_URL": "https://gw.example:8444"},
        {"MAMORI_AGENT_TLS12": "maybe"},
        {"MAMORI_AGENT_CERT_LIFETIME_S": "60"},
    ],
    ids=["same-port", "not-wss", "bad-flag", "too-short"],
)
def test_bad_agent_port_settings_are_refused(
    server_certs: ServerFiles, overrides: dict[str, str]
) -> None:
    """The agent port must differ from the browser port, its URL be wss://, and the
    certificate lifetime be at least an hour."""
    with pytest.raises(ConfigError):
        Settings.from_env(env(server_certs, **overrides))
