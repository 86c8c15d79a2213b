"""The agent port's own TLS layer (``broker.server.agent_tls``): connections past the bound
on TLS handshakes in progress are closed before any TLS, and the port works as before for
the rest (client certificate seen by the application, agent linked)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from broker.server.agent_tls import TLS_READ_BUFFER_BYTES, AgentTlsFactory, _AgentTls
from devkit.broker import RunningBroker
from devkit.identity import Org
from host_agent.trust.credentials import AgentState
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration


async def linked(broker: RunningBroker, org: Org) -> bool:
    for _ in range(500):
        if broker.app.state.relay.agent(org.id, HOST_ID) is not None:
            return True
        await asyncio.sleep(0.02)
    return False


def test_the_read_buffer_holds_one_tls_record() -> None:
    """Big enough for the largest TLS record's ciphertext, a sixteenth of asyncio's."""
    assert _AgentTls.max_size == TLS_READ_BUFFER_BYTES >= 2**14 + 256
    assert TLS_READ_BUFFER_BYTES * 15 < 256 * 1024


async def test_connections_of_one_server_share_one_read_buffer() -> None:
    """Idle agents cost no read buffer each: every connection the factory makes reads into
    the factory's one buffer (safe within one event loop: see broker.server.agent_tls)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    factory = AgentTlsFactory(asyncio.Protocol, context, limit=8)
    first, second = factory(), factory()
    assert isinstance(first, _AgentTls)
    assert isinstance(second, _AgentTls)
    try:
        assert first.get_buffer(-1).obj is second.get_buffer(-1).obj is factory.read_buffer
        assert len(first.get_buffer(1 << 20)) == TLS_READ_BUFFER_BYTES
    finally:
        first.connection_lost(None)  # never connected: only their transports to close
        second.connection_lost(None)
    assert factory.handshakes == 0


@pytest.mark.parametrize("broker", [{"agent_handshake_limit": 2}], indirect=True)
async def test_connections_past_the_handshake_bound_are_closed_before_tls(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """Two connections that never say ClientHello hold both handshake slots: a third is
    closed without a TLS answer. Once they go, a real agent links with its certificate."""
    silent = [
        socket.create_connection(("127.0.0.1", broker.agent_port), timeout=5) for _ in range(2)
    ]
    try:
        await asyncio.sleep(0.3)  # accepted by the broker (the listen queue is not the bound)
        with pytest.raises((ssl.SSLError, OSError)) as refused:
            async with connect(
                f"{broker.agent_wss_url}/ws/agent", ssl=agent_state.ssl_context(), open_timeout=5
            ):
                pass
        assert not isinstance(refused.value, TimeoutError), "closed at once, not left waiting"
    finally:
        for sock in silent:
            sock.close()
    for _ in range(100):  # the broker notices the two closing (bounded)
        try:
            async with connect(
                f"{broker.agent_wss_url}/ws/agent", ssl=agent_state.ssl_context(), open_timeout=5
            ) as ws:
                await ws.send(protocol.encode(protocol.AgentHello(HOST_ID, "診察室1", "0.1.0")))
                assert await linked(broker, org)
                return
        except (ssl.SSLError, OSError):
            await asyncio.sleep(0.05)
    raise AssertionError("the agent never linked once the slots were free")
