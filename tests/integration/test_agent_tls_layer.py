"""The agent port's own TLS layer (``broker.server.agent_tls``) and its parking
(``broker.server.agent_parking``): a connection past the bound on handshakes in progress
waits without TLS and links once a slot frees; past the parking's bound, or after its
wait, it is closed before any TLS. Real TLS clients on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

import mamori_protocol as protocol
from broker.server import agent_tls
from broker.server.agent_parking import ParkingQueue
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


async def hello_links(ws: ClientConnection, broker: RunningBroker, org: Org) -> bool:
    """Say hello on an agent's opened link; whether the broker then holds the agent."""
    try:
        await ws.send(protocol.encode(protocol.AgentHello(HOST_ID, "診察室1", "0.1.0")))
        return await linked(broker, org)
    finally:
        await ws.close()


def test_the_read_buffer_holds_one_tls_record() -> None:
    """Big enough for the largest TLS record's ciphertext, a sixteenth of asyncio's."""
    assert _AgentTls.max_size == TLS_READ_BUFFER_BYTES >= 2**14 + 256
    assert TLS_READ_BUFFER_BYTES * 15 < 256 * 1024


def factory(broker: RunningBroker) -> AgentTlsFactory:
    admission: AgentTlsFactory = broker.app.state.agent_admission
    return admission


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@contextlib.contextmanager
def silent_connections(broker: RunningBroker, count: int) -> Iterator[list[socket.socket]]:
    """TCP connections that never say ClientHello: each holds a handshake slot (or a place
    in the parking) until closed."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", broker.agent_port), timeout=5))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


async def test_connections_of_one_server_share_one_read_buffer() -> None:
    """Idle agents cost no read buffer each: every connection the factory makes reads into
    the factory's one buffer (safe within one event loop: see broker.server.agent_tls)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls = AgentTlsFactory(asyncio.Protocol, context, limit=8, parking=ParkingQueue(8, 1.0))
    first, second = tls(), tls()
    assert isinstance(first, _AgentTls)
    assert isinstance(second, _AgentTls)
    try:
        assert first.get_buffer(-1).obj is second.get_buffer(-1).obj is tls.read_buffer
        assert len(first.get_buffer(1 << 20)) == TLS_READ_BUFFER_BYTES
    finally:
        first.connection_lost(None)  # never connected: only their transports to close
        second.connection_lost(None)
    assert tls.handshakes == 0


@pytest.mark.parametrize("broker", [{"agent_handshake_limit": 2}], indirect=True)
async def test_a_connection_past_the_bound_waits_without_tls_and_links_once_a_slot_frees(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """Two connections that never say ClientHello hold both handshake slots: a real agent
    is parked (no TLS answer, not closed); when one of the two goes, its handshake starts
    and it links, without being refused on the way."""
    admission = factory(broker)
    with silent_connections(broker, 2) as silent:
        await wait_for(lambda: admission.handshakes == 2)
        agent = asyncio.create_task(
            connect(
                f"{broker.agent_wss_url}/ws/agent",
                ssl=agent_state.ssl_context(),
                open_timeout=8,
            ).__aenter__()
        )
        await wait_for(lambda: len(admission.parking) == 1)
        await asyncio.sleep(0.3)
        assert not agent.done(), "a parked connection gets no TLS answer (nor a close)"
        silent[0].close()
        assert await hello_links(await asyncio.wait_for(agent, 8), broker, org)
    assert admission.parking.parked_total == 1
    assert admission.refused == 0
    assert broker.app.state.agent_gate.refused == 0, "no 503 after a handshake"


@pytest.mark.parametrize(
    "broker", [{"agent_handshake_limit": 1, "agent_park_limit": 1}], indirect=True
)
async def test_past_the_parking_bound_a_connection_is_closed_before_tls(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """One silent connection holds the slot, another the only parking place: an agent is
    closed at once, before any TLS (not left to its timeout)."""
    admission = factory(broker)
    with silent_connections(broker, 2):
        await wait_for(lambda: admission.handshakes == 1 and len(admission.parking) == 1)
        started = time.monotonic()
        with pytest.raises((ssl.SSLError, OSError)) as refused:
            async with connect(
                f"{broker.agent_wss_url}/ws/agent", ssl=agent_state.ssl_context(), open_timeout=5
            ):
                pass
        assert not isinstance(refused.value, TimeoutError), "closed at once, not left waiting"
        assert time.monotonic() - started < 2
    assert admission.parking.refused == 1


@pytest.mark.parametrize(
    "broker", [{"agent_handshake_limit": 1, "agent_park_s": 0.5}], indirect=True
)
async def test_a_parked_connection_is_closed_when_its_wait_runs_out(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """The slot stays taken: the parked agent is closed after the parking's wait (0.5 s
    here), before any TLS, well before its own open timeout."""
    admission = factory(broker)
    with silent_connections(broker, 1):
        await wait_for(lambda: admission.handshakes == 1)
        started = time.monotonic()
        with pytest.raises((ssl.SSLError, OSError)) as refused:
            async with connect(
                f"{broker.agent_wss_url}/ws/agent", ssl=agent_state.ssl_context(), open_timeout=8
            ):
                pass
        waited = time.monotonic() - started
        assert not isinstance(refused.value, TimeoutError), "closed by the broker"
        assert 0.4 <= waited < 3, waited
    assert admission.parking.expired == 1
    assert len(admission.parking) == 0


@pytest.mark.parametrize("broker", [{"agent_handshake_limit": 1}], indirect=True)
async def test_stopping_closes_parked_connections(
    broker: RunningBroker, agent_state: AgentState
) -> None:
    """A parked connection is no uvicorn connection yet: the agent port closes it itself
    when it stops (here: the parking's close, as the server's shutdown calls it)."""
    admission = factory(broker)
    with silent_connections(broker, 2) as silent:
        await wait_for(lambda: admission.handshakes == 1 and len(admission.parking) == 1)
        admission.close_parked()
        assert len(admission.parking) == 0
        silent[1].setblocking(False)
        loop = asyncio.get_running_loop()
        got = await asyncio.wait_for(loop.sock_recv(silent[1], 1), 5)
        assert got == b"", "closed by the broker, nothing sent"


@pytest.mark.parametrize("broker", [{"agent_handshake_limit": 1}], indirect=True)
async def test_a_peer_silent_after_tls_gives_its_slot_back_in_time(
    broker: RunningBroker, agent_state: AgentState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot is held past the TLS handshake (until /ws/agent counts the agent), but a
    peer that completes TLS and sends no request keeps it only for a bounded time (here
    0.5 s instead of 10 s); a waiting agent then links."""
    monkeypatch.setattr(agent_tls, "HANDSHAKE_TIMEOUT_S", 0.5)
    admission = factory(broker)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", broker.agent_port, ssl=agent_state.ssl_context(), server_hostname="localhost"
    )
    try:
        await wait_for(lambda: admission.handshakes == 1)
        await asyncio.sleep(0.2)
        assert admission.handshakes == 1, "held past the TLS handshake"
        await wait_for(lambda: admission.handshakes == 0, timeout_s=3)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    assert reader is not None


@pytest.mark.parametrize("broker", [{"agent_handshake_limit": 2}], indirect=True)
async def test_queued_registrations_count_in_the_bound(
    broker: RunningBroker, org: Org, agent_state: AgentState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registrations waiting for their batch hold the bound as handshakes do (TLS must not
    take the event loop from them): with two queued and a limit of two, an agent waits
    parked; once the queue goes to be written, its handshake starts and it links."""
    admission = factory(broker)
    queued = [2]
    monkeypatch.setattr(
        type(broker.app.state.agent_registrations), "queued", property(lambda _self: queued[0])
    )
    agent = asyncio.create_task(
        connect(
            f"{broker.agent_wss_url}/ws/agent", ssl=agent_state.ssl_context(), open_timeout=8
        ).__aenter__()
    )
    await wait_for(lambda: len(admission.parking) == 1)
    assert admission.handshakes == 0
    queued[0] = 0
    admission.slot_freed()  # what the registrations' writer calls as it takes a batch
    assert await hello_links(await asyncio.wait_for(agent, 8), broker, org)
