"""Broker settings fail closed outside dev."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import Settings
from broker.errors import ConfigError
from certs.authority import ServerFiles

pytestmark = pytest.mark.unit


def env(certs: ServerFiles, **overrides: str) -> dict[str, str]:
    values = {
        "MAMORI_AGENT_TOKEN": "q" * 40,
        "MAMORI_TLS_CERT": str(certs.server_cert),
        "MAMORI_TLS_KEY": str(certs.server_key),
    }
    values.update(overrides)
    return values


def test_production_is_the_default_and_accepts_a_strong_token(server_certs: ServerFiles) -> None:
    """Without MAMORI_ENV the broker runs as production."""
    assert Settings.from_env(env(server_certs)).environment == "production"


@pytest.mark.parametrize("token", ["", "changeme", "short-token", "secret"])
def test_production_refuses_placeholder_or_short_agent_tokens(
    server_certs: ServerFiles, token: str
) -> None:
    """A missing, placeholder or short agent token stops the broker from starting."""
    with pytest.raises(ConfigError, match="MAMORI_AGENT_TOKEN"):
        Settings.from_env(env(server_certs, MAMORI_AGENT_TOKEN=token))


def test_dev_accepts_a_short_token_but_not_none(server_certs: ServerFiles) -> None:
    """Dev relaxes the token length only; an empty token is still refused."""
    assert Settings.from_env(env(server_certs, MAMORI_ENV="dev", MAMORI_AGENT_TOKEN="dev")).is_dev
    with pytest.raises(ConfigError):
        Settings.from_env(env(server_certs, MAMORI_ENV="dev", MAMORI_AGENT_TOKEN=""))


def test_tls_files_are_required(server_certs: ServerFiles, tmp_path: Path) -> None:
    """The broker never starts without its certificate and key."""
    with pytest.raises(ConfigError, match="MAMORI_TLS_CERT"):
        Settings.from_env(env(server_certs, MAMORI_TLS_CERT=str(tmp_path / "missing.pem")))


def test_unknown_environment_and_bad_port_are_refused(server_certs: ServerFiles) -> None:
    """Typos in MAMORI_ENV or MAMORI_PORT are errors, not silent defaults."""
    with pytest.raises(ConfigError, match="MAMORI_ENV"):
        Settings.from_env(env(server_certs, MAMORI_ENV="staging"))
    with pytest.raises(ConfigError, match="MAMORI_PORT"):
        Settings.from_env(env(server_certs, MAMORI_PORT="eighty"))
