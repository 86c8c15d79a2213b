"""Remote ICE candidates end to end: a real aiortc viewer trickles 3,000 candidates naming
loopback, cloud metadata, LAN and public addresses through a real broker to a real agent.
The broker caps and checks them, the agent checks again (defence in depth), each audits
once per session, and the picture keeps flowing (issue 12.6, issue 16.5)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

import mamori_protocol as protocol
from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.display import SampleApp
from devkit.identity import SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.webrtc.peer_session import PeerSession
from mamori_protocol.candidates import MAX_REMOTE_CANDIDATES
from tests.conftest import HOST_ID
from tests.support.viewer import aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display, pytest.mark.usefixtures("loopback_ice")]

# What an attacker would aim the clinic PC's STUN checks at, and one public address.
# Loopback is not among them: here both ends run on loopback, so the broker and agent are
# configured to admit it (MAMORI_ICE_LOOPBACK); tests/broker/test_candidates.py covers it.
TARGETS = ("169.254.169.254", "192.168.1.1", "10.0.0.1", "224.0.0.1", "0.0.0.0", "fe80::1")
PUBLIC = "203.0.113.34"


def candidate(address: str, port: int) -> str:
    return f"candidate:{port} 1 udp 2122260223 {address} {port} typ host"


def trickling(offer: str) -> str:
    """The offer without ``a=end-of-candidates``, as a trickling browser sends it: the
    agent's ICE agent then still takes candidates (aiortc alone never trickles)."""
    return offer.replace("a=end-of-candidates\r\n", "")


def remote_addresses(session: PeerSession) -> list[str]:
    """The remote candidates the agent's ICE agent (aioice) will send checks to."""
    sctp = session._pc.sctp
    assert sctp is not None
    connection = sctp.transport.transport.iceGatherer._connection
    return [c.host for c in connection.remote_candidates]


async def refusals_audited(broker: RunningBroker, session_id: str) -> list[str]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "policy_violation",
                AuditEvent.detail.contains(f"session={session_id} "),
            )
        )
        return [r.detail for r in rows]


async def poll_audits(broker: RunningBroker, session_id: str, count: int) -> list[str]:
    for _ in range(100):
        found = await refusals_audited(broker, session_id)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    return await refusals_audited(broker, session_id)


@pytest.mark.parametrize("broker", [{"lan_candidates": False}], indirect=True)
async def test_the_broker_caps_and_checks_trickled_candidates(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """Of 3,000 trickled candidates at most 50 are looked at and only public ones reach
    the agent; one audit record for the session; frames keep arriving."""
    async with aiortc_viewer(broker, user, HOST_ID, edit_offer=trickling) as viewer:
        await viewer.next_frame()
        session = agent.session
        assert session is not None
        before = remote_addresses(session)
        # The offer's own candidates were counted already.
        link = next(a for a in broker.app.state.relay.agents() if a.host_id == HOST_ID)
        counted = link.session.candidates.seen
        for i in range(3000):
            address = PUBLIC if i % 7 == 0 else TARGETS[i % len(TARGETS)]
            line = candidate(address, 1024 + i)
            await viewer.ws.send(protocol.encode(protocol.IceCandidate(line, "0", 0)))
        await viewer.ws.send(protocol.encode(protocol.IceCandidate("", "0", 0)))
        await viewer.next_frame()  # still streaming
        # The broker looks at the first 50 only; the public ones among them go on.
        expected = sum(1 for i in range(MAX_REMOTE_CANDIDATES - counted) if i % 7 == 0)
        for _ in range(200):
            if len(remote_addresses(session)) - len(before) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything more on its way would have arrived by now
        added = remote_addresses(session)[len(before) :]
        assert len(added) == expected
        assert set(added) == {PUBLIC}
        # Everything the agent saw had passed the broker: it refused nothing itself.
        assert session._candidates.refused == {}
        audits = await poll_audits(broker, session.session_id, 1)
        assert len(audits) == 1, audits
        assert "violation=ice_candidate_refused" in audits[0]


@pytest.mark.parametrize("broker", [{"lan_candidates": False}], indirect=True)
async def test_the_agent_checks_again_what_reaches_it(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """Candidates handed to the agent directly (as if the broker had not checked them) are
    capped and checked there too, and the agent reports its refusal once."""
    async with aiortc_viewer(broker, user, HOST_ID, edit_offer=trickling) as viewer:
        await viewer.next_frame()
        session = agent.session
        assert session is not None
        before = remote_addresses(session)
        for i in range(3000):
            address = PUBLIC if i % 7 == 0 else TARGETS[i % len(TARGETS)]
            await session.add_candidate(candidate(address, 1024 + i), "0", 0)
        added = remote_addresses(session)[len(before) :]
        assert 0 < len(added) <= MAX_REMOTE_CANDIDATES
        assert set(added) == {PUBLIC}
        assert session._candidates.refused["too_many"] >= 3000 - MAX_REMOTE_CANDIDATES
        audits = await poll_audits(broker, session.session_id, 1)
        assert len(audits) == 1, audits
        assert "violation=ice_candidate_refused" in audits[0]
        await viewer.next_frame()
