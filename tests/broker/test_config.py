"""Broker settings fail closed: no placeholder secret key, no IP as passkey RP id, TLS always."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

from broker.__main__ import main
from broker.config import Settings, show, variable
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


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> list[tuple[int, list[str], list[str]]]:
    """The README's rows of MAMORI_* variables: line number, variables, defaults."""
    rows = []
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines()):
        if line.startswith("| `MAMORI_"):
            names, default = line.split(" | ")[:2]
            variables = re.findall(r"`(MAMORI_[A-Z0-9_]+)`", names)
            rows.append((number, variables, re.split(r",\s+", default)))
    return rows


def documented_defaults() -> dict[str, str]:
    """Each variable of the README's table with the default it gives."""
    defaults: dict[str, str] = {}
    for _, variables, cells in readme_rows():
        assert len(cells) in {1, len(variables)}, variables
        for i, name in enumerate(variables):
            assert name not in defaults, f"{name} is listed twice"
            defaults[name] = cells[0 if len(cells) == 1 else i]
    return defaults


def test_the_readme_has_one_table_of_settings() -> None:
    """The README's MAMORI_* rows are one table (no blank line or text cutting it)."""
    lines = [number for number, _, _ in readme_rows()]
    assert lines == list(range(lines[0], lines[0] + len(lines)))


def test_the_readme_table_lists_exactly_the_settings_in_their_order() -> None:
    """Every variable the settings class reads is in the README's table, in the class's
    order, and the table lists no variable the class does not read."""
    assert list(documented_defaults()) == [variable(name) for name in Settings.model_fields]


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_the_readme_table_gives_each_default(name: str) -> None:
    """The README's default is the class's: the value itself, (required), (none), or a
    formula over other MAMORI_* variables where the default is computed."""
    field = Settings.model_fields[name]
    documented = documented_defaults()[variable(name)]
    if field.is_required():
        assert documented == "(required)"
    elif field.default_factory is not None or field.default is None:
        assert "$MAMORI_" in documented
    elif field.default == "":
        assert documented.startswith(("(none)", "(required"))
    else:
        assert re.fullmatch(rf"`{re.escape(show(field.default))}`( \(.*\))?", documented)


def test_check_config_prints_the_settings_with_secrets_masked(
    server_certs: ServerFiles, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config prints each variable's value in force and exits 0; no secret appears."""
    values = env(server_certs, MAMORI_SMTP_PASSWORD="hunter2-mail", MAMORI_IDLE_TIMEOUT_S="600")
    for name in [n for n in os.environ if n.startswith("MAMORI_")]:
        monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    printed = dict(line.split("=", 1) for line in out.splitlines())
    assert list(printed) == [variable(name) for name in Settings.model_fields]
    assert printed["MAMORI_IDLE_TIMEOUT_S"] == "600"
    assert printed["MAMORI_PUBLIC_URL"] == "https://localhost:8443"
    assert printed["MAMORI_SECRET_KEY"] == printed["MAMORI_SMTP_PASSWORD"] == "(set, hidden)"
    assert values["MAMORI_SECRET_KEY"] not in out
    assert "hunter2-mail" not in out


def test_check_config_names_every_problem_and_exits_2(
    server_certs: ServerFiles, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config exits 2 naming each bad variable (all at once), never echoing a value."""
    for name in [n for n in os.environ if n.startswith("MAMORI_")]:
        monkeypatch.delenv(name)
    bad = env(server_certs, MAMORI_SECRET_KEY="changeme", MAMORI_PORT="80000")
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAMORI_WATERMARK", "perhaps")
    assert main(["check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "mamori-broker: MAMORI_SECRET_KEY is a placeholder; generate a random key",
        "mamori-broker: MAMORI_PORT must be between 0 and 65535",
        "mamori-broker: MAMORI_WATERMARK must be on or off",
    ]
