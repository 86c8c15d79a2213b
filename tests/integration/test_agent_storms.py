"""What keeps a reconnecting fleet from drowning the broker (issue 18): a bound on agent
handshakes (certificate check to registration), past which an agent waits parked before
its TLS handshake, or, should one get through TLS with the bound reached, is answered
503 + Retry-After before any database work (and agents that honour it),
certificate status from memory instead of a query per handshake, and pings that notice a
silent agent within ~15 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import mamori_protocol as protocol
from broker.agents.ca import AgentAuthority
from broker.config import Settings
from broker.db.models import AgentCertificate
from broker.server.agent_tls import AgentTlsFactory
from broker.signaling import agent_watch
from broker.signaling.agent_gate import HandshakeGate
from devkit.broker import RunningBroker
from devkit.identity import Org
from host_agent.link.backoff import Backoff
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.trust.credentials import AgentState
from host_agent.webrtc.peer_session import StreamSettings
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration


class NoInput:
    def close(self) -> None:
        return None


@contextmanager
def statements(broker: RunningBroker) -> Iterator[list[str]]:
    """Every SQL statement the broker's engine runs meanwhile."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = broker.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def wait_for(condition: Any, timeout_s: float = 10) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def agent_url(broker: RunningBroker) -> str:
    return f"{broker.agent_wss_url}/ws/agent"


def hello() -> str:
    return protocol.encode(protocol.AgentHello(HOST_ID, "診察室1", "0.1.0"))


def let_one_more_through_tls(broker: RunningBroker) -> None:
    """The agent port's TLS admission lets one more handshake through than the endpoint's
    gate admits: what a connection finishing TLS just as the gate fills sees."""
    admission: AgentTlsFactory = broker.app.state.agent_admission
    admission.limit += 1


@pytest.mark.parametrize(
    "broker", [{"agent_handshake_limit": 1, "agent_retry_after_s": 2}], indirect=True
)
async def test_an_agent_past_the_limit_waits_before_tls_and_links_once_the_slot_frees(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """With one agent between its TLS handshake and its registration (no hello yet) and a
    limit of one, the next agent's connection is parked: no TLS, no SQL, no 503. Once the
    first registers, the slot goes to the parked one, which links."""
    gate: HandshakeGate = broker.app.state.agent_gate
    admission: AgentTlsFactory = broker.app.state.agent_admission
    async with connect(agent_url(broker), ssl=agent_state.ssl_context()) as holder:
        await wait_for(lambda: gate.in_progress == 1)
        with statements(broker) as seen:
            waiting = asyncio.create_task(
                connect(agent_url(broker), ssl=agent_state.ssl_context()).__aenter__()
            )
            await wait_for(lambda: len(admission.parking) == 1)
            await asyncio.sleep(0.2)
            assert not waiting.done()
        assert seen == []
        await holder.send(hello())
        ws = await asyncio.wait_for(waiting, 10)
        try:
            await ws.send(hello())
            await wait_for(lambda: gate.in_progress == 0 and admission.handshakes == 0)
        finally:
            await ws.close()
    assert gate.refused == 0
    assert admission.refused == 0


@pytest.mark.parametrize(
    "broker", [{"agent_handshake_limit": 1, "agent_retry_after_s": 2}], indirect=True
)
async def test_handshakes_past_the_limit_are_told_to_come_back_without_database_work(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """With one handshake in progress (a link that has not said hello yet) and a limit of
    one, an agent that got through TLS all the same is answered 503 with Retry-After, and
    the broker ran no SQL for it; once the slot is free the same agent connects."""
    gate: HandshakeGate = broker.app.state.agent_gate
    let_one_more_through_tls(broker)
    async with connect(agent_url(broker), ssl=agent_state.ssl_context()) as holder:
        await wait_for(lambda: gate.in_progress == 1)
        with statements(broker) as seen, pytest.raises(InvalidStatus) as refusal:
            async with connect(agent_url(broker), ssl=agent_state.ssl_context()):
                pass
        assert refusal.value.response.status_code == 503
        assert refusal.value.response.headers["Retry-After"] == "2"
        assert seen == []
        assert gate.refused == 1
        await holder.send(hello())
        await wait_for(lambda: broker.app.state.relay.agent(org.id, HOST_ID) is not None)
        await wait_for(lambda: gate.in_progress == 0)
    async with connect(agent_url(broker), ssl=agent_state.ssl_context()) as ws:
        await ws.send(hello())
        await wait_for(lambda: broker.app.state.relay.agent(org.id, HOST_ID) is not None)


@pytest.mark.parametrize(
    "broker", [{"agent_handshake_limit": 1, "agent_retry_after_s": 2}], indirect=True
)
async def test_the_agent_honours_retry_after(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """An agent told 503 + Retry-After 2 s does not come back sooner, though its own backoff
    would retry within milliseconds; it connects once the slot is free."""
    gate: HandshakeGate = broker.app.state.agent_gate
    let_one_more_through_tls(broker)
    link = BrokerLink(
        LinkSettings(broker.agent_wss_url, HOST_ID, "診察室1", agent_state.ssl_context),
        StreamSettings(display=":0"),
        NoInput(),  # type: ignore[arg-type]
        backoff=Backoff(base_s=0.001, cap_s=0.002),
    )
    async with connect(agent_url(broker), ssl=agent_state.ssl_context()) as holder:
        await wait_for(lambda: gate.in_progress == 1)
        task = asyncio.create_task(link.run())
        try:
            await wait_for(lambda: gate.refused == 1)
            refused_at = time.monotonic()
            # Freed at once: only the agent's own wait keeps it away now.
            await holder.close()
            await wait_for(lambda: gate.in_progress == 0)
            await asyncio.wait_for(link.connected.wait(), 15)
            waited = time.monotonic() - refused_at
        finally:
            await link.stop()
            await asyncio.wait_for(task, 10)
    assert gate.refused == 1
    assert waited >= 2.0, waited


async def test_handshakes_are_authenticated_from_memory_and_revocations_still_hold(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """Once a certificate is known good, a handshake reads nothing about certificates from
    the database; a revocation through the broker refuses the next handshake at once, and one
    written by another process (the CLI) is picked up by the next recheck round."""
    authority: AgentAuthority = broker.app.state.agent_authority
    relay = broker.app.state.relay
    for _ in range(2):  # the first may learn the certificate (enrolled after the start)
        with statements(broker) as seen:
            async with connect(agent_url(broker), ssl=agent_state.ssl_context()) as ws:
                await ws.send(hello())
                await wait_for(lambda: relay.agent(org.id, HOST_ID) is not None)
        await wait_for(lambda: relay.agent(org.id, HOST_ID) is None)
    assert not [s for s in seen if "agent_certificates" in s], seen

    # Another process revokes (no cache to tell): the next recheck round reloads the status.
    serial = f"{agent_state.certificate().serial_number:x}"
    async with broker.db.session() as s:
        await s.execute(
            update(AgentCertificate)
            .where(AgentCertificate.serial == serial)
            .values(revoked_at=broker.clock.now(), revoked_reason="compromised")
        )
        await s.commit()
    await agent_watch.recheck(relay, authority, broker.db, broker.clock)
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(agent_url(broker), ssl=agent_state.ssl_context()):
            pass
    assert refusal.value.response.status_code == 403


async def test_a_revocation_through_the_broker_drops_the_cached_status_at_once(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """The console's revocation path (the authority) forgets the certificate before commit:
    the very next handshake is refused."""
    authority: AgentAuthority = broker.app.state.agent_authority
    relay = broker.app.state.relay
    async with connect(agent_url(broker), ssl=agent_state.ssl_context()) as ws:
        await ws.send(hello())
        await wait_for(lambda: relay.agent(org.id, HOST_ID) is not None)
    serial = f"{agent_state.certificate().serial_number:x}"
    assert authority.status.get(org.id, serial, broker.clock.now()) is not None
    async with broker.db.session() as s:
        await authority.revoke(s, org.id, serial, "compromised", broker.clock.now())
        await s.commit()
    assert authority.status.get(org.id, serial, broker.clock.now()) is None
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(agent_url(broker), ssl=agent_state.ssl_context()):
            pass
    assert refusal.value.response.status_code == 403


def test_the_default_pings_notice_a_silent_agent_within_15_s() -> None:
    """Interval + timeout of the defaults: the bound the issue asks for."""
    fields = Settings.model_fields
    assert fields["agent_ping_interval_s"].default + fields["agent_ping_timeout_s"].default <= 15


@pytest.mark.parametrize(
    "broker", [{"agent_ping_interval_s": 0.5, "agent_ping_timeout_s": 1.0}], indirect=True
)
async def test_a_silent_agent_is_dropped_after_its_unanswered_ping(
    broker: RunningBroker, org: Org, agent_state: AgentState
) -> None:
    """An agent that stops reading (its network cut) answers no ping: the broker drops its
    link within interval + timeout (here 1.5 s) and the host is no longer online."""
    relay = broker.app.state.relay
    async with connect(agent_url(broker), ssl=agent_state.ssl_context(), ping_interval=None) as ws:
        await ws.send(hello())
        await wait_for(lambda: relay.agent(org.id, HOST_ID) is not None)
        ws.transport.pause_reading()  # silent from now on: no pong ever goes back
        silent_at = time.monotonic()
        await wait_for(lambda: relay.agent(org.id, HOST_ID) is None, 15)
        noticed = time.monotonic() - silent_at
    print(f"silent agent dropped after {noticed:.2f} s (bound 1.5 s + scheduling)")
    assert noticed < 5
