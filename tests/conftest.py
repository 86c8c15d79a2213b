"""Fixtures shared by every tier: a real CA per test session, real brokers on port 0,
virtual displays with the sample clinic app, and real agents streaming them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aioice.ice
import pytest

from certs.authority import ServerFiles
from host_agent.broker_link import BrokerLink, LinkSettings, client_ssl_context
from host_agent.ice import restrict_host_candidates
from host_agent.injection import open_injector
from host_agent.peer_session import StreamSettings
from tests.support.broker import RunningBroker, make_certs, running_broker
from tests.support.display import SampleApp, XvfbDisplay, start_sample_app, start_xvfb

HOST_ID = "clinic-pc-1"


@pytest.fixture(scope="session")
def server_certs(tmp_path_factory: pytest.TempPathFactory) -> ServerFiles:
    """A CA and a broker certificate for 127.0.0.1, made once per test session."""
    return make_certs(Path(tmp_path_factory.mktemp("certs")))


@pytest.fixture
async def broker(server_certs: ServerFiles) -> AsyncIterator[RunningBroker]:
    """A real broker on uvicorn, TLS 1.3, on a free port."""
    async with running_broker(server_certs) as running:
        yield running


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
async def agent(
    broker: RunningBroker, xvfb: XvfbDisplay, sample_app: SampleApp, loopback_ice: None
) -> AsyncIterator[BrokerLink]:
    """A real agent (in this process) streaming the sample app's display to the broker."""
    injector = open_injector(xvfb.name)
    link = BrokerLink(
        LinkSettings(
            broker.wss_url,
            HOST_ID,
            "診察室1",
            broker.settings.agent_token,
            client_ssl_context(str(broker.certs.ca_cert)),
        ),
        StreamSettings(display=xvfb.name),
        injector,
    )
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(link.connected.wait(), 10)
    yield link
    await link.stop()
    await asyncio.wait_for(task, 10)
    injector.close()
