"""The relay checks the viewer's candidates and, under relay only, both ends' (no sockets)."""

from __future__ import annotations

import pytest

import mamori_protocol as protocol
from broker.access.remote_policy import RemotePolicy
from broker.signaling.relay import Relay
from broker.signaling.sessions import Session
from devkit.sdp import HOST_ANSWER, VIEWER_OFFER
from mamori_protocol import Direction
from mamori_protocol.candidates import MAX_REMOTE_CANDIDATES
from tests.broker.test_relay import ORG, FakePeer, hello

pytestmark = pytest.mark.unit


class Recorded:
    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    async def started(self, session: Session) -> None:
        return None

    async def ended(self, session: Session, reason: str) -> None:
        return None

    async def violation(self, session: Session, violation: str, detail: str) -> None:
        self.violations.append((violation, detail))


def cand(address: str, typ: str = "host", port: int = 50000) -> str:
    return f"candidate:1 1 udp 2122260223 {address} {port} typ {typ}"


async def started(policy: RemotePolicy) -> tuple[Relay, Recorded, FakePeer, FakePeer, Session]:
    events = Recorded()
    relay = Relay(policy, events)
    agent_peer, viewer = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    session = await relay.join(ORG, "pc-1", viewer)
    return relay, events, agent_peer, viewer, session


def forwarded(agent_peer: FakePeer) -> list[str]:
    return [
        m.candidate
        for m in agent_peer.messages(Direction.BROKER_TO_AGENT)
        if isinstance(m, protocol.IceCandidate)
    ]


async def test_probing_candidates_are_dropped_capped_and_audited_once() -> None:
    """3,000 trickled candidates naming loopback, metadata, LAN and public addresses: at
    most the cap reach the agent, none of the refused kinds, one audit record."""
    relay, events, agent_peer, _, session = await started(RemotePolicy(lan_candidates=False))
    targets = ["127.0.0.1", "169.254.169.254", "192.168.1.1", "0.0.0.0", "203.0.113.34"]
    for i in range(3000):
        line = cand(targets[i % len(targets)], port=1 + i)
        await relay.from_viewer(session, protocol.IceCandidate(line, "0", 0))
    sent = forwarded(agent_peer)
    assert 0 < len(sent) <= MAX_REMOTE_CANDIDATES
    assert all(" 203.0.113.34 " in c for c in sent)
    assert len(events.violations) == 1
    assert events.violations[0][0] == "ice_candidate_refused"
    assert "loopback" in events.violations[0][1]
    await relay.from_viewer(session, protocol.IceCandidate("", "0", 0))
    assert forwarded(agent_peer)[-1] == ""  # end-of-candidates still passes


async def test_lan_candidates_pass_when_the_clinic_allows_them_without_an_audit() -> None:
    """By default a home LAN address passes; an mDNS name is dropped but not audited."""
    relay, events, agent_peer, _, session = await started(RemotePolicy())
    await relay.from_viewer(session, protocol.IceCandidate(cand("192.168.1.7"), "0", 0))
    await relay.from_viewer(session, protocol.IceCandidate(cand("ab12.local"), "0", 0))
    assert forwarded(agent_peer) == [cand("192.168.1.7")]
    assert events.violations == []


async def test_relay_only_drops_non_relay_candidates_in_both_directions() -> None:
    """Under relay only, host/srflx candidates from either end and in either SDP stop here."""
    relay, events, agent_peer, viewer, session = await started(RemotePolicy(ice_policy="relay"))
    offer = VIEWER_OFFER.replace(
        "a=recvonly\r\n",
        f"a=recvonly\r\na={cand('198.51.100.10')}\r\na={cand('203.0.113.1', 'relay')}\r\n",
    )
    assert "198.51.100.10" in offer
    await relay.from_viewer(session, protocol.Offer(offer))
    sent_offer = next(
        m for m in agent_peer.messages(Direction.BROKER_TO_AGENT) if isinstance(m, protocol.Offer)
    )
    assert "198.51.100.10" not in sent_offer.sdp
    assert "typ relay" in sent_offer.sdp
    for typ in ("host", "srflx"):
        await relay.from_viewer(session, protocol.IceCandidate(cand("203.0.113.34", typ), "0", 0))
    await relay.from_viewer(session, protocol.IceCandidate(cand("203.0.113.1", "relay"), "0", 0))
    assert forwarded(agent_peer) == [cand("203.0.113.1", "relay")]
    agent = relay.agent(ORG, "pc-1")
    assert agent is not None
    sid = session.session_id
    answer = HOST_ANSWER.replace("a=sendonly\r\n", f"a=sendonly\r\na={cand('192.0.2.10')}\r\n")
    assert "192.0.2.10" in answer
    await relay.from_agent(agent, protocol.Answer(answer, session_id=sid))
    await relay.from_agent(
        agent, protocol.IceCandidate(cand("203.0.113.18", "srflx"), session_id=sid)
    )
    await relay.from_agent(
        agent, protocol.IceCandidate(cand("203.0.113.1", "relay"), session_id=sid)
    )
    to_viewer = viewer.messages(Direction.BROKER_TO_VIEWER)
    answers = [m for m in to_viewer if isinstance(m, protocol.Answer)]
    assert len(answers) == 1
    assert "192.0.2.10" not in answers[0].sdp
    assert [m.candidate for m in to_viewer if isinstance(m, protocol.IceCandidate)] == [
        cand("203.0.113.1", "relay")
    ]
    assert events.violations == []  # an honest relay-only browser sends none of these


async def test_the_session_start_names_the_policy_and_fresh_ice_servers() -> None:
    """The agent hears the clinic's ICE policy, its LAN choice and the minted servers."""
    servers = (protocol.IceServer(("turn:203.0.113.1:3478?transport=udp",), "1:x", "p"),)
    seen: list[str] = []

    def ice(subject: str) -> tuple[protocol.IceServer, ...]:
        seen.append(subject)
        return servers

    relay = Relay(RemotePolicy(ice_policy="relay", lan_candidates=False), ice=ice)
    agent_peer = FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    session = await relay.join(ORG, "pc-1", FakePeer())
    start = agent_peer.messages(Direction.BROKER_TO_AGENT)[0]
    assert isinstance(start, protocol.SessionStart)
    assert start.ice_servers == servers
    assert start.ice_policy == "relay"
    assert start.lan_candidates is False
    assert seen == [session.session_id]
