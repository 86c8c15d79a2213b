"""The version is written once, in pyproject.toml; the broker and the agent read it from the
installed package's metadata, and say so plainly when it is not installed."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

import mamori_protocol as protocol
from broker import version as broker_version
from broker.config import Settings
from broker.server.app import create_app
from certs.authority import ServerFiles
from devkit.broker import random_secret_key
from host_agent import version as agent_version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
DECLARED = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Files allowed to spell the version out (none).
PENDING: set[str] = set()


def test_no_package_writes_the_version_itself() -> None:
    """No source of the shipped packages spells pyproject's version out; they all read it."""
    literal = re.compile(rf"""["']{re.escape(DECLARED)}["']""")
    holding = {
        str(path.relative_to(ROOT))
        for package in ("broker", "host_agent", "mamori_protocol", "certs", "web_client")
        for path in (ROOT / package).rglob("*")
        if path.suffix in {".py", ".js", ".html"} and literal.search(path.read_text())
    }
    assert holding == PENDING


@pytest.mark.parametrize("module", [broker_version, agent_version], ids=["broker", "agent"])
def test_the_version_comes_from_the_installed_metadata(
    module: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, the version is the distribution's; not installed, it is 0+unknown, which
    the agent_hello schema still accepts."""
    read = module.installed_version  # type: ignore[attr-defined]
    assert read() == importlib.metadata.version("mamori")

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(module, "version", missing)
    assert read() == "0+unknown"
    hello = protocol.AgentHello("clinic-pc-1", "受付PC", read())
    assert protocol.parse(protocol.encode(hello), protocol.Direction.AGENT_TO_BROKER) == hello


def test_the_api_schema_names_the_installed_version(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The broker's OpenAPI document carries the package's version."""
    settings = Settings(
        secret_key=random_secret_key(),
        tls_cert=server_certs.server_cert,
        tls_key=server_certs.server_key,
        data_dir=tmp_path,
    )
    assert create_app(settings).openapi()["info"]["version"] == broker_version.VERSION
