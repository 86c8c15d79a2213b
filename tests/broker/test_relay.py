"""The relay's pairing rules with in-memory peers (no sockets)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

import mamori_protocol as protocol
from broker.access.remote_policy import RemotePolicy
from broker.clock import Clock
from broker.errors import HostBusy, NotInSession, UnknownHost
from broker.signaling.relay import Relay
from devkit.sdp import HOST_ANSWER, VIEWER_OFFER
from mamori_protocol import CloseCode, Direction

pytestmark = pytest.mark.unit

SDP = VIEWER_OFFER
ANSWER = HOST_ANSWER
ORG = 1


class FakePeer:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def messages(self, direction: Direction) -> list[protocol.Message]:
        return [protocol.parse(text, direction) for text in self.sent]


def hello(host_id: str = "pc-1") -> protocol.AgentHello:
    return protocol.AgentHello(host_id, "受付", "0.1.0")


async def test_join_unknown_host_and_busy_host_are_refused() -> None:
    """No agent: UnknownHost; an agent with a viewer: HostBusy."""
    relay = Relay()
    with pytest.raises(UnknownHost):
        await relay.join(ORG, "pc-1", FakePeer())
    await relay.add_agent(ORG, hello(), FakePeer())
    await relay.join(ORG, "pc-1", FakePeer())
    with pytest.raises(HostBusy):
        await relay.join(ORG, "pc-1", FakePeer())


async def test_the_same_browser_takes_its_own_session_over() -> None:
    """The same browser session on the same device joining again (its network changed, the
    old socket is half-open) ends its old session as peer_failed and gets the host; another
    browser session, or the same one from another device, still finds it busy."""
    relay = Relay()
    agent_peer = FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    old_viewer = FakePeer()
    old = await relay.join(ORG, "pc-1", old_viewer, owner=7, device_id=3)
    with pytest.raises(HostBusy):
        await relay.join(ORG, "pc-1", FakePeer(), owner=8, device_id=3)
    with pytest.raises(HostBusy):
        await relay.join(ORG, "pc-1", FakePeer(), owner=7, device_id=4)
    new = await relay.join(ORG, "pc-1", FakePeer(), owner=7, device_id=3)
    assert new.session_id != old.session_id
    assert old_viewer.messages(Direction.BROKER_TO_VIEWER) == [protocol.Bye("peer_failed")]
    byes = [
        m for m in agent_peer.messages(Direction.BROKER_TO_AGENT) if isinstance(m, protocol.Bye)
    ]
    assert byes == [protocol.Bye("peer_failed", session_id=old.session_id)]


async def test_messages_for_a_stale_session_are_dropped() -> None:
    """An agent's answer naming an old session never reaches the new viewer."""
    relay = Relay()
    agent_peer = FakePeer()
    agent = await relay.add_agent(ORG, hello(), agent_peer)
    first_viewer = FakePeer()
    first = await relay.join(ORG, "pc-1", first_viewer)
    await relay.leave(first, "viewer_left")
    second_viewer = FakePeer()
    second = await relay.join(ORG, "pc-1", second_viewer)
    await relay.from_agent(agent, protocol.Answer(ANSWER, session_id=first.session_id))
    assert second_viewer.sent == []
    await relay.from_agent(agent, protocol.Answer(ANSWER, session_id=second.session_id))
    assert second_viewer.messages(Direction.BROKER_TO_VIEWER) == [protocol.Answer(ANSWER)]


async def test_viewer_messages_after_the_session_ended_are_refused() -> None:
    """A viewer whose session was ended by the host cannot keep signaling."""
    relay = Relay()
    agent = await relay.add_agent(ORG, hello(), FakePeer())
    session = await relay.join(ORG, "pc-1", FakePeer())
    await relay.from_agent(agent, protocol.Bye("peer_failed", session_id=session.session_id))
    with pytest.raises(NotInSession):
        await relay.from_viewer(session, protocol.Offer(SDP))


async def test_newer_agent_connection_replaces_the_older_one() -> None:
    """A reconnecting agent wins: the old link is closed and its viewer told."""
    relay = Relay()
    old_peer, viewer = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), old_peer)
    await relay.join(ORG, "pc-1", viewer)
    new_peer = FakePeer()
    new = await relay.add_agent(ORG, hello(), new_peer)
    assert old_peer.closed is not None
    assert old_peer.closed[0] == CloseCode.HOST_ID_TAKEN
    assert viewer.closed == (CloseCode.HOST_DISCONNECTED, "host disconnected")
    assert [h.host_id for h in relay.hosts(ORG)] == ["pc-1"]
    assert new.session is None


async def test_removing_a_replaced_agent_keeps_the_new_one_listed() -> None:
    """The old link's late disconnect does not unregister the agent that replaced it."""
    relay = Relay()
    old = await relay.add_agent(ORG, hello(), FakePeer())
    await relay.add_agent(ORG, hello(), FakePeer())
    await relay.remove_agent(old)
    assert [h.host_id for h in relay.hosts(ORG)] == ["pc-1"]


async def test_leave_tells_the_agent_with_the_session_id() -> None:
    """A viewer leaving sends the agent a bye naming the session, once."""
    relay = Relay()
    agent_peer = FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    session = await relay.join(ORG, "pc-1", FakePeer())
    await relay.leave(session, "viewer_left")
    await relay.leave(session, "viewer_left")
    byes = [
        m for m in agent_peer.messages(Direction.BROKER_TO_AGENT) if isinstance(m, protocol.Bye)
    ]
    assert byes == [protocol.Bye("viewer_left", session_id=session.session_id)]


async def test_hosts_and_joins_are_scoped_to_the_organization() -> None:
    """Two clinics may use the same host id; each sees and joins only its own host."""
    relay = Relay()
    ours, theirs = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), ours)
    await relay.add_agent(2, hello(), theirs)
    assert [h.host_id for h in relay.hosts(ORG)] == ["pc-1"]
    assert relay.hosts(3) == []
    with pytest.raises(UnknownHost):
        await relay.join(3, "pc-1", FakePeer())
    await relay.join(2, "pc-1", FakePeer())
    assert ours.sent == []
    assert [type(m) for m in theirs.messages(Direction.BROKER_TO_AGENT)] == [protocol.SessionStart]


async def test_revoking_a_device_ends_only_the_sessions_opened_from_it() -> None:
    """The agent hears bye device_revoked (and closes its peer), the viewer is told why and
    closed with 4401; a session from another device goes on."""
    relay = Relay()
    agent_a, agent_b, viewer_a, viewer_b = FakePeer(), FakePeer(), FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello("pc-1"), agent_a)
    await relay.add_agent(ORG, hello("pc-2"), agent_b)
    session = await relay.join(ORG, "pc-1", viewer_a, owner=7, device_id=41)
    await relay.join(ORG, "pc-2", viewer_b, owner=7, device_id=42)
    assert session.device_id == 41
    await relay.end_sessions_of_devices({41})
    assert agent_a.messages(Direction.BROKER_TO_AGENT)[-1] == protocol.Bye(
        "device_revoked", session_id=session.session_id
    )
    assert viewer_a.messages(Direction.BROKER_TO_VIEWER)[-1] == protocol.Bye("device_revoked")
    assert viewer_a.closed == (CloseCode.UNAUTHORIZED, "device revoked")
    assert viewer_b.closed is None
    assert [h.busy for h in relay.hosts(ORG)] == [False, True]


async def test_signing_out_ends_the_viewer_sessions_it_opened() -> None:
    """Ending a browser session closes its viewer (4401) and tells the agent."""
    relay = Relay()
    agent_peer, viewer = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    await relay.join(ORG, "pc-1", viewer, owner=7)
    await relay.end_sessions_of({8})
    assert viewer.closed is None
    await relay.end_sessions_of({7})
    assert viewer.closed == (CloseCode.UNAUTHORIZED, "signed out")
    assert agent_peer.messages(Direction.BROKER_TO_AGENT)[-1] == protocol.Bye(
        "signed_out",
        session_id=agent_peer.messages(Direction.BROKER_TO_AGENT)[0].session_id,  # type: ignore[union-attr]
    )
    assert relay.hosts(ORG)[0].busy is False


async def test_live_sessions_and_ending_one_are_scoped_to_the_organization() -> None:
    """The dashboard lists only its clinic's sessions, and an admin of another clinic
    cannot end one even knowing its id; ending tells the agent and the viewer why."""
    relay = Relay()
    agent_peer, viewer = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    await relay.add_agent(2, hello("pc-2"), FakePeer())
    session = await relay.join(ORG, "pc-1", viewer)
    assert [s.session_id for s in relay.live_sessions(ORG)] == [session.session_id]
    assert relay.live_sessions(2) == []
    assert await relay.end_session(2, session.session_id, "ended_by_admin") is False
    assert viewer.closed is None
    assert await relay.end_session(ORG, session.session_id, "ended_by_admin") is True
    assert viewer.messages(Direction.BROKER_TO_VIEWER)[-1] == protocol.Bye("ended_by_admin")
    assert viewer.closed == (CloseCode.NORMAL, "ended by admin")
    assert agent_peer.messages(Direction.BROKER_TO_AGENT)[-1] == protocol.Bye(
        "ended_by_admin", session_id=session.session_id
    )
    assert relay.live_sessions(ORG) == []
    assert await relay.end_session(ORG, session.session_id, "ended_by_admin") is False


async def test_a_view_only_join_tells_the_agent_and_the_viewer() -> None:
    """view_only goes into session_start (and local input stays unlocked), and the viewer
    gets a view_only notice before anything else."""
    relay = Relay(RemotePolicy(privacy_screen="always"))
    agent_peer, viewer = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    session = await relay.join(ORG, "pc-1", viewer, view_only=True)
    (start,) = agent_peer.messages(Direction.BROKER_TO_AGENT)
    assert isinstance(start, protocol.SessionStart)
    assert start.view_only is True
    assert start.block_local_input is False
    assert viewer.messages(Direction.BROKER_TO_VIEWER) == [protocol.Notice("view_only", 0)]
    assert relay.sessions_of(ORG) == [session]
    assert relay.sessions_of(ORG + 1) == []
    await relay.leave(session, "viewer_left")
    control = await relay.join(ORG, "pc-1", FakePeer())
    last = agent_peer.messages(Direction.BROKER_TO_AGENT)[-1]
    assert isinstance(last, protocol.SessionStart)
    assert (last.view_only, last.block_local_input) == (False, True)
    await relay.leave(control, "viewer_left")


async def test_a_session_ends_when_its_window_closes_by_the_relays_clock() -> None:
    """closes_at passed on the broker's clock: the viewer is warned, then told
    window_closed, the agent gets the bye, and the session is gone."""
    clock = Clock()
    relay = Relay(RemotePolicy(warn_s=300), clock=clock)
    agent_peer, viewer = FakePeer(), FakePeer()
    await relay.add_agent(ORG, hello(), agent_peer)
    closes_at = clock.now() + dt.timedelta(minutes=10)
    session = await relay.join(ORG, "pc-1", viewer, closes_at=closes_at)
    clock.advance(6 * 60)
    for _ in range(40):
        if viewer.sent:
            break
        await asyncio.sleep(0.05)
    (notice,) = viewer.messages(Direction.BROKER_TO_VIEWER)
    assert isinstance(notice, protocol.Notice)
    assert notice.code == "window_closing"
    assert 235 <= notice.seconds_left <= 240
    clock.advance(5 * 60)
    for _ in range(40):
        if viewer.closed:
            break
        await asyncio.sleep(0.05)
    assert viewer.messages(Direction.BROKER_TO_VIEWER)[-1] == protocol.Bye("window_closed")
    assert viewer.closed == (CloseCode.NORMAL, "window closed")
    assert agent_peer.messages(Direction.BROKER_TO_AGENT)[-1] == protocol.Bye(
        "window_closed", session_id=session.session_id
    )
    assert relay.sessions_of(ORG) == []
