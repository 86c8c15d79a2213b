"""Fixtures shared by every tier: a real CA per test session, real brokers on port 0 with
real databases, organizations and people, virtual displays with the sample clinic app, and
real agents streaming them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aioice.ice
import pytest

from certs.authority import ServerFiles
from devkit.agent import enroll_agent, running_agent
from devkit.broker import RunningBroker, make_certs, running_broker
from devkit.databases import BACKENDS, database_url, sqlite_url
from devkit.display import SampleApp, XvfbDisplay, start_sample_app, start_xvfb
from devkit.identity import Org, Person, SignedIn, make_org, make_person, signed_in
from host_agent.link.broker_link import BrokerLink
from host_agent.trust.credentials import AgentState
from host_agent.webrtc.ice import restrict_host_candidates

HOST_ID = "clinic-pc-1"


@pytest.fixture(scope="session")
def server_certs(tmp_path_factory: pytest.TempPathFactory) -> ServerFiles:
    """A CA and a broker certificate for 127.0.0.1 and localhost, made once per session."""
    return make_certs(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture
async def broker(
    request: pytest.FixtureRequest, server_certs: ServerFiles, tmp_path: Path
) -> AsyncIterator[RunningBroker]:
    """A real broker on uvicorn, TLS 1.3, on a free port, with a fresh SQLite database.

    Settings may be overridden by indirect parametrization (e.g. a short session limit)."""
    overrides = getattr(request, "param", {})
    async with running_broker(server_certs, sqlite_url(tmp_path), **overrides) as running:
        yield running


@pytest.fixture(params=BACKENDS)
async def any_broker(
    request: pytest.FixtureRequest, server_certs: ServerFiles, tmp_path: Path
) -> AsyncIterator[RunningBroker]:
    """The same broker on each storage backend: SQLite and PostgreSQL."""
    async with (
        database_url(request.param, tmp_path) as url,
        running_broker(server_certs, url) as running,
    ):
        yield running


@pytest.fixture
async def org(broker: RunningBroker) -> Org:
    """A clinic."""
    return await make_org(broker, "テスト診療所")


@pytest.fixture
async def doctor(broker: RunningBroker, org: Org) -> Person:
    """An enrolled doctor (password and TOTP) of ``org``."""
    return await make_person(broker, org, "doctor")


@pytest.fixture
def xvfb() -> Iterator[XvfbDisplay]:
    with start_xvfb(1280, 720) as display:
        yield display


@pytest.fixture
def sample_app(xvfb: XvfbDisplay, tmp_path: Path) -> Iterator[SampleApp]:
    with start_sample_app(xvfb, tmp_path / "state.json") as app:
        yield app


@pytest.fixture
def loopback_ice() -> Iterator[None]:
    """Media stays on 127.0.0.1: the machine's other addresses are not ours to test on."""
    original = aioice.ice.get_host_addresses
    restrict_host_candidates(["127.0.0.1"])
    yield
    aioice.ice.get_host_addresses = original


@pytest.fixture
async def agent_state(broker: RunningBroker, org: Org, tmp_path: Path) -> AgentState:
    """``HOST_ID`` enrolled into ``org``: its key and client certificate in a state dir."""
    return await enroll_agent(broker, org, HOST_ID, tmp_path / "agent-state", "診察室1")


@pytest.fixture
async def agent(
    broker: RunningBroker,
    agent_state: AgentState,
    xvfb: XvfbDisplay,
    sample_app: SampleApp,
    loopback_ice: None,
) -> AsyncIterator[BrokerLink]:
    """A real enrolled agent (in this process) of ``org`` streaming the sample app's display,
    connected over mutual TLS."""
    async with running_agent(broker, agent_state, xvfb.name, HOST_ID, "診察室1") as link:
        yield link


@pytest.fixture
async def user(broker: RunningBroker, doctor: Person) -> AsyncIterator[SignedIn]:
    """``doctor`` signed in through the API (password and TOTP): an active session."""
    async with signed_in(broker, doctor) as session:
        yield session
