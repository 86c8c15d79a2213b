"""Re-adopting a live session after its broker went away (issue 18), by policy, over real
sockets and a real database: an agent's ``session_resume`` and a page's ``viewer_resume``.

The broker here is in this process: ``suspend_all`` is exactly what SIGTERM runs (sessions let
go without an end, both ends told 1012), and clearing ``draining`` then stands for the new
process, which finds the same rows (tests/e2e/test_restart_survival.py restarts a real process
with a real picture).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import mamori_protocol as protocol
from broker.db.models import AuditEvent, OpenSession, ViewingDevice
from broker.signaling.adoption import Adoption
from devkit.broker import RunningBroker
from devkit.identity import Person, SignedIn, signed_in
from host_agent.trust.credentials import AgentState
from mamori_protocol import CloseCode, Direction
from tests.conftest import HOST_ID

pytestmark = pytest.mark.integration


@dataclass
class Suspended:
    """A session as a restarted broker finds it: its row, and the page's secret."""

    session_id: str
    token: str
    username: str


def agent_connect(broker: RunningBroker, state: AgentState) -> connect:
    return connect(f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context())


def hello() -> str:
    return protocol.encode(protocol.AgentHello(HOST_ID, "受付PC", "0.1.0"))


async def recv(ws: ClientConnection, direction: Direction) -> protocol.Message:
    return protocol.parse(await asyncio.wait_for(ws.recv(), 15), direction)


def resume_connect(broker: RunningBroker, user: SignedIn) -> connect:
    return connect(
        f"{broker.wss_url}/ws/viewer/resume",
        ssl=broker.client_ssl(),
        additional_headers={"Cookie": user.cookie_header()},
        origin=broker.origin,  # type: ignore[arg-type]
    )


async def audit(broker: RunningBroker, event: str, session_id: str) -> list[str]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.event == event, AuditEvent.detail.contains(f"session={session_id}")
            )
        )
        return list(rows)


async def closed(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(20):
            await asyncio.wait_for(ws.recv(), 15)
    return ws.close_code


@pytest.fixture
async def suspended(broker: RunningBroker, user: SignedIn, agent_state: AgentState) -> Suspended:
    """A session started (the page asked for a resume secret), then the broker "restarted":
    both sockets closed with 1012, the session's row kept as broker_shutdown."""
    adoption: Adoption = broker.app.state.adoption
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        for _ in range(100):
            if broker.app.state.relay.agent(user.person.org_id, HOST_ID) is not None:
                break
            await asyncio.sleep(0.05)
        ticket = await user.ticket(HOST_ID)
        async with connect(
            f"{broker.wss_url}/ws/viewer?ticket={ticket}",
            ssl=broker.client_ssl(),
            additional_headers={"Cookie": user.cookie_header()},
            origin=broker.origin,  # type: ignore[arg-type]
        ) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST_ID, resume=True)))
            start = await recv(agent, Direction.BROKER_TO_AGENT)
            assert isinstance(start, protocol.SessionStart)
            token = await recv(viewer, Direction.BROKER_TO_VIEWER)
            assert isinstance(token, protocol.ResumeToken)
            assert await adoption.suspend_all() == 1
            assert await closed(viewer) == CloseCode.SERVICE_RESTART
        assert await closed(agent) == CloseCode.SERVICE_RESTART
    broker.app.state.relay.draining = False  # the new process
    assert await audit(broker, "session_ended", start.session_id) == []
    return Suspended(start.session_id, token.token, start.viewer_id)


async def test_agent_and_page_take_the_session_back_once(
    broker: RunningBroker, user: SignedIn, agent_state: AgentState, suspended: Suspended
) -> None:
    """The agent's re-registration is adopted (audited session_resumed); the page's secret
    takes the signaling back once and is replaced; the old secret, or the new one from
    another browser session, is refused; an admin end then reaches both ends."""
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        await agent.send(
            protocol.encode(protocol.SessionResume(suspended.session_id, suspended.username, 7))
        )
        resumed = await recv(agent, Direction.BROKER_TO_AGENT)
        assert resumed == protocol.SessionResumed(suspended.session_id)
        [detail] = await audit(broker, "session_resumed", suspended.session_id)
        assert f"host={HOST_ID}" in detail
        assert "mode=control" in detail

        async with resume_connect(broker, user) as page:
            await page.send(protocol.encode(protocol.ViewerResume(suspended.token)))
            fresh = await recv(page, Direction.BROKER_TO_VIEWER)
            assert isinstance(fresh, protocol.ResumeToken)
            assert fresh.token != suspended.token

            # The spent secret takes nothing over, even from the right browser session.
            async with resume_connect(broker, user) as again:
                await again.send(protocol.encode(protocol.ViewerResume(suspended.token)))
                error = await recv(again, Direction.BROKER_TO_VIEWER)
                assert error == protocol.Error("resume_refused", "resume: unknown secret")
                assert await closed(again) == CloseCode.UNAUTHORIZED
            # The new secret is bound to the browser session it was opened from.
            other: Person = user.person
            async with (
                signed_in(broker, other) as elsewhere,
                resume_connect(broker, elsewhere) as thief,
            ):
                await thief.send(protocol.encode(protocol.ViewerResume(fresh.token)))
                error = await recv(thief, Direction.BROKER_TO_VIEWER)
                assert error == protocol.Error("resume_refused", "resume: unknown secret")

            # Signaling works again: the relay forwards the page's candidates to the agent.
            await page.send(protocol.encode(protocol.IceCandidate("", "0", 0)))
            forwarded = await recv(agent, Direction.BROKER_TO_AGENT)
            assert forwarded == protocol.IceCandidate("", "0", 0, session_id=suspended.session_id)

            relay = broker.app.state.relay
            assert await relay.end_session(
                user.person.org_id, suspended.session_id, "ended_by_admin"
            )
            assert await recv(page, Direction.BROKER_TO_VIEWER) == protocol.Bye("ended_by_admin")
            assert await recv(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                "ended_by_admin", session_id=suspended.session_id
            )
    [ended] = await audit(broker, "session_ended", suspended.session_id)
    assert "reason=ended_by_admin" in ended


async def test_a_device_revoked_meanwhile_ends_the_session_it_opened(
    broker: RunningBroker, agent_state: AgentState, suspended: Suspended
) -> None:
    """Re-adoption holds the session to its policy now: its device was revoked while the
    broker was away, so the agent hears bye device_revoked, which the audit records."""
    async with broker.db.session() as s:
        row = await s.get(OpenSession, suspended.session_id)
        assert row is not None
        assert row.device_id is not None
        await s.execute(
            update(ViewingDevice).where(ViewingDevice.id == row.device_id).values(state="revoked")
        )
        await s.commit()
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        await agent.send(
            protocol.encode(protocol.SessionResume(suspended.session_id, suspended.username, 3))
        )
        bye = await recv(agent, Direction.BROKER_TO_AGENT)
        assert bye == protocol.Bye("device_revoked", session_id=suspended.session_id)
    [ended] = await audit(broker, "session_ended", suspended.session_id)
    assert "reason=device_revoked" in ended
    assert await audit(broker, "session_resumed", suspended.session_id) == []


async def test_a_session_of_another_viewer_or_none_is_not_adopted(
    broker: RunningBroker, agent_state: AgentState, suspended: Suspended
) -> None:
    """A re-registration must name the row's viewer: anything else is session_unknown, and
    the session stays unadopted."""
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        await agent.send(
            protocol.encode(protocol.SessionResume(suspended.session_id, "someone-else", 3))
        )
        bye = await recv(agent, Direction.BROKER_TO_AGENT)
        assert bye == protocol.Bye("session_unknown", session_id=suspended.session_id)
    assert await audit(broker, "session_resumed", suspended.session_id) == []


async def test_sessions_not_readopted_in_time_end_with_the_reason_the_broker_stopped(
    broker: RunningBroker, suspended: Suspended
) -> None:
    """No agent came back within the window: the row is closed as broker_shutdown (a crash
    would say broker_crashed), once."""
    adoption: Adoption = broker.app.state.adoption
    adoption.window_s = 0.3
    await adoption.start()
    for _ in range(100):
        if await audit(broker, "session_ended", suspended.session_id):
            break
        await asyncio.sleep(0.05)
    [ended] = await audit(broker, "session_ended", suspended.session_id)
    assert "reason=broker_shutdown" in ended
    async with broker.db.session() as s:
        assert await s.get(OpenSession, suspended.session_id) is None


async def test_a_readopted_session_whose_page_never_returns_ends_as_viewer_left(
    broker: RunningBroker, agent_state: AgentState, suspended: Suspended
) -> None:
    """The agent came back but the page did not (closed meanwhile): within the window the
    session ends as viewer_left, and the agent is told to close its peer."""
    adoption: Adoption = broker.app.state.adoption
    adoption.window_s = 0.5
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        await agent.send(
            protocol.encode(protocol.SessionResume(suspended.session_id, suspended.username, 3))
        )
        assert await recv(agent, Direction.BROKER_TO_AGENT) == protocol.SessionResumed(
            suspended.session_id
        )
        assert await recv(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
            "viewer_left", session_id=suspended.session_id
        )
    for _ in range(100):  # the relay records the end right after its bye
        if await audit(broker, "session_ended", suspended.session_id):
            break
        await asyncio.sleep(0.05)
    [ended] = await audit(broker, "session_ended", suspended.session_id)
    assert "reason=viewer_left" in ended


async def test_a_session_past_its_maximum_time_is_not_readopted(
    broker: RunningBroker, agent_state: AgentState, suspended: Suspended
) -> None:
    """The agent says how long the session has run: one past the clinic's maximum (the
    broker's own record may be younger than the agent's, the longer counts) ends as
    max_session_time."""
    max_s = broker.app.state.relay.policy.max_s
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        resume = protocol.SessionResume(suspended.session_id, suspended.username, max_s)
        await agent.send(protocol.encode(resume))
        bye = await recv(agent, Direction.BROKER_TO_AGENT)
        assert bye == protocol.Bye("max_session_time", session_id=suspended.session_id)
    [ended] = await audit(broker, "session_ended", suspended.session_id)
    assert "reason=max_session_time" in ended


async def ended_record(broker: RunningBroker, session_id: str) -> list[str]:
    for _ in range(100):  # the endpoint handles it after the agent's send returns
        if found := await audit(broker, "session_ended", session_id):
            return found
        await asyncio.sleep(0.05)
    return []


async def test_a_session_that_ended_while_the_broker_was_away_is_closed_with_its_reason(
    broker: RunningBroker, agent_state: AgentState, suspended: Suspended
) -> None:
    """The agent kept the session, its peer connection failed before any broker was back:
    on its next link it says so, and the audit records peer_failed (with the agent's
    duration), not broker_shutdown; the end is recorded once even when the window closes
    the leftovers afterwards."""
    adoption: Adoption = broker.app.state.adoption
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        lost = protocol.SessionLost(suspended.session_id, suspended.username, 7, "peer_failed")
        await agent.send(protocol.encode(lost))
        [ended] = await ended_record(broker, suspended.session_id)
    assert "reason=peer_failed" in ended
    assert "duration_s=" in ended
    assert "reported=agent_after_restart" in ended
    async with broker.db.session() as s:
        assert await s.get(OpenSession, suspended.session_id) is None
    adoption.window_s = 0.05
    await adoption.start()  # nothing of it left to close as the restart's
    await asyncio.sleep(0.3)
    assert len(await audit(broker, "session_ended", suspended.session_id)) == 1


async def test_a_lost_session_report_for_another_viewer_closes_nothing(
    broker: RunningBroker, agent_state: AgentState, suspended: Suspended
) -> None:
    """An agent can only close its own host's session, for the viewer it was shown to."""
    async with agent_connect(broker, agent_state) as agent:
        await agent.send(hello())
        await agent.send(
            protocol.encode(
                protocol.SessionLost(suspended.session_id, "someone-else", 7, "peer_failed")
            )
        )
        # Then a valid re-registration on the same link: handled after the report, so its
        # answer proves the report was processed (and closed nothing).
        await agent.send(
            protocol.encode(protocol.SessionResume(suspended.session_id, suspended.username, 8))
        )
        assert await recv(agent, Direction.BROKER_TO_AGENT) == protocol.SessionResumed(
            suspended.session_id
        )
    assert not any(
        "reason=peer_failed" in e
        for e in await audit(broker, "session_ended", suspended.session_id)
    )
