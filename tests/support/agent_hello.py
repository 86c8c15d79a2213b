"""A bare agent link that says hello with a chosen version (the real agent always says the
installed one), held until the broker has registered it, then closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.asyncio.client import connect

import mamori_protocol as protocol
from devkit.broker import RunningBroker
from host_agent.trust.credentials import AgentState


async def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never met")
        await asyncio.sleep(0.05)


async def say_hello(
    broker: RunningBroker, state: AgentState, host_id: str, version: str, name: str = ""
) -> None:
    """Connect as ``host_id`` saying ``version``; return once the link was registered (the
    hello's transaction, alert included, commits before the relay lists the link) and has
    left the relay again."""
    relay = broker.app.state.relay
    hello = protocol.AgentHello(host_id, name or host_id, version)
    async with connect(f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as agent:
        await agent.send(protocol.encode(hello))
        await _until(lambda: any(link.version == version for link in relay.agents()))
    await _until(lambda: not any(link.host_id == host_id for link in relay.agents()))
