"""A real host agent running in the test's event loop, connected to a test broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from host_agent.broker_link import BrokerLink, LinkSettings, client_ssl_context
from host_agent.injection import open_injector
from host_agent.peer_session import StreamSettings
from tests.support.broker import RunningBroker


@contextlib.asynccontextmanager
async def running_agent(
    broker: RunningBroker, agent_token: str, display: str, host_id: str, name: str
) -> AsyncIterator[BrokerLink]:
    """An agent streaming ``display``; yielded once it is connected, stopped on exit."""
    injector = open_injector(display)
    link = BrokerLink(
        LinkSettings(
            broker.wss_url, host_id, name, agent_token,
            client_ssl_context(str(broker.certs.ca_cert)),
        ),
        StreamSettings(display=display),
        injector,
    )  # fmt: skip
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        yield link
    finally:
        await link.stop()
        await asyncio.wait_for(task, 10)
        injector.close()
