"""The deployment kit in deploy/ is checked with the real tools where this machine has them:
``systemd-analyze verify`` for the units, ``nginx -t`` for the proxy, coturn's own option list
for its example; the compose file (no ``docker compose`` here) is parsed and its broker
settings checked against the settings the broker reads. A missing tool is a skip that says
so, never a silent pass."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from broker.config import Settings, variable
from certs.authority import ServerFiles

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ["mamori-broker.service", "mamori-agent.service"]
SETTINGS = {variable(name) for name in Settings.model_fields}


def tool(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if found is None:
        pytest.skip(f"{name} is not installed here: this check did NOT run (deploy/setup.sh test)")
    return found


def unit_lines(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("name", UNITS)
def test_units_are_hardened(name: str) -> None:
    """Each unit runs without new privileges, on a read-only system, restarting on failure."""
    unit = unit_lines(name)
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["Restart"][0] in {"on-failure", "always"}
    assert unit["UMask"] == ["0077"]
    assert unit["StateDirectoryMode"] == ["0700"]


def test_the_broker_unit_runs_as_its_own_user_without_capabilities() -> None:
    unit = unit_lines("mamori-broker.service")
    assert unit["User"] == ["mamori"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert unit["ProtectHome"] == ["yes"]


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verifies_the_units(name: str, tmp_path: Path) -> None:
    """systemd-analyze verify finds nothing wrong. The program path is pointed at this
    machine's Python first (verify checks that the executable exists; /opt/mamori does not
    here); nothing else is changed."""
    analyze = tool("systemd-analyze")
    text = (DEPLOY / "systemd" / name).read_text()
    assert "/opt/mamori/.venv/bin/python" in text
    (tmp_path / name).write_text(text.replace("/opt/mamori/.venv/bin/python", sys.executable))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / name)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Lines about units this machine lacks (postgresql.service, graphical-session.target
    # under a system manager) are not about our files; anything naming our file is.
    problems = [line for line in done.stderr.splitlines() if name in line]
    assert done.returncode == 0 or not problems, done.stderr
    assert not problems, problems


def test_systemd_analyze_would_report_a_wrong_key(tmp_path: Path) -> None:
    """The check above can fail: a misspelt directive is reported against the file."""
    analyze = tool("systemd-analyze")
    bad = tmp_path / "mamori-typo.service"
    bad.write_text(f"[Service]\nExecStart={sys.executable}\nNoNewPrivilege=yes\n")
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "mamori-typo.service" in done.stderr
    assert "NoNewPrivilege" in done.stderr


def test_nginx_accepts_the_proxy_configuration(server_certs: ServerFiles, tmp_path: Path) -> None:
    """nginx -t on the example, with this machine's names put in: the brokers' host names
    become 127.0.0.1 (nginx resolves upstreams while testing) and the certificate paths the
    test's own; the stream module is loaded where Debian builds it as a module."""
    nginx = tool("nginx")
    text = (DEPLOY / "nginx" / "mamori.conf").read_text()
    text = text.replace("broker-a:", "127.0.0.1:").replace("broker-b:", "127.0.0.2:")
    text = text.replace("/etc/nginx/tls/fullchain.pem", str(server_certs.server_cert))
    text = text.replace("/etc/nginx/tls/privkey.pem", str(server_certs.server_key))
    text = text.replace("/etc/nginx/tls/broker-ca.pem", str(server_certs.ca_cert))
    module = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
    prefix = f"load_module {module};\n" if module.exists() else ""
    prefix += f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
    conf = tmp_path / "nginx.conf"
    conf.write_text(prefix + text)
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-c", str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ssl_preread on;" in text


def test_the_coturn_example_uses_only_options_coturn_knows() -> None:
    """Every option of the example is in turnserver's own usage text, and it uses the REST
    credentials the broker mints."""
    turnserver = tool("turnserver")
    usage = subprocess.run(
        [turnserver, "-h"], capture_output=True, text=True, timeout=30, check=False
    )
    known = set(re.findall(r"--([a-z0-9_-]+)", usage.stdout + usage.stderr))
    assert len(known) > 50
    options = [
        line.split("=", 1)[0].strip()
        for line in (DEPLOY / "coturn" / "turnserver.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    unknown = [o for o in options if o not in known]
    assert not unknown, unknown
    assert "use-auth-secret" in options


def compose() -> dict[str, object]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_compose_file_runs_two_replicas_on_postgres_and_redis() -> None:
    """Two broker replicas with their own replica ids, on PostgreSQL and Redis, healthy by
    /readyz, sharing the audit key; PostgreSQL, Redis, coturn and nginx beside them."""
    services = compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"postgres", "redis", "broker-a", "broker-b", "coturn", "nginx"}
    ids = set()
    for name in ("broker-a", "broker-b"):
        env = services[name]["environment"]
        ids.add(env["MAMORI_REPLICA_ID"])
        assert env["MAMORI_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["MAMORI_REDIS_URL"].startswith("redis://")
        assert env["MAMORI_AUDIT_KEY_FILE"].startswith("/var/lib/mamori/keys/")
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["stop_grace_period"] == "30s"
    assert ids == {"broker-a", "broker-b"}
    nginx = services["nginx"]
    assert "./nginx/mamori.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    trusted = services["broker-a"]["environment"]["MAMORI_TRUSTED_PROXIES"]
    assert nginx["networks"]["mamori"]["ipv4_address"] == trusted


def test_the_compose_file_sets_only_settings_the_broker_reads() -> None:
    """Every MAMORI_* variable given to a broker is a real setting (a typo would be
    refused at start: better here)."""
    services = compose()["services"]
    for name in ("broker-a", "broker-b"):
        given = {k for k in services[name]["environment"] if k.startswith("MAMORI_")}
        assert given <= SETTINGS, given - SETTINGS


def test_the_dockerfile_copies_what_exists() -> None:
    root = DEPLOY.parent
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
