"""The agent's side of a broker restart (issue 18), with a real agent streaming to a real
aiortc viewer through a real broker: what keeps a live session, and what ends it (fail closed).

- A broker that says it restarts (1012) leaves the session running on the agent (frames keep
  coming), which re-registers it on its next link; a broker that no longer knows it answers
  ``bye session_unknown`` and the agent closes the peer.
- A session no broker adopts within the agent's own window ends there (here the broker is
  back but answers every handshake 503).
- A link the broker closes for a reason of its own (the agent's certificate revoked: 4401)
  ends the session at once, never kept.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete

from broker.db.models import OpenSession
from broker.signaling.adoption import Adoption
from devkit.broker import RunningBroker
from devkit.identity import SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.webrtc.peer_session import PeerSession
from tests.conftest import HOST_ID
from tests.support.grants import audit, audited
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]


async def until(probe: object, timeout_s: float, what: str) -> None:
    for _ in range(int(timeout_s * 20)):
        if probe():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def broker_away(
    broker: RunningBroker, agent: BrokerLink, viewer: AiortcViewer
) -> tuple[PeerSession, int]:
    """Once the picture runs: the broker "restarts" (its sessions suspended) and answers
    every agent 503 for now; the agent keeps its session, detached. The session, and the
    gate's limit to set back for the broker to come back."""
    await viewer.next_frame()
    session = agent.session
    assert session is not None
    gate = broker.app.state.agent_gate
    limit, gate.limit = gate.limit, 0
    adoption: Adoption = broker.app.state.adoption
    assert await adoption.suspend_all() == 1
    await until(lambda: agent.session_detached, 10, "the session kept, detached")
    assert agent.session is session
    return session, limit


async def test_a_restart_keeps_the_session_and_an_unknown_one_is_ended(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        _, limit = await broker_away(broker, agent, viewer)
        gate = broker.app.state.agent_gate
        for _ in range(10):
            await viewer.next_frame(5)  # the picture goes on without a broker link
        # Meanwhile the broker's record of it went (as after its window passed).
        async with broker.db.session() as s:
            await s.execute(delete(OpenSession))
            await s.commit()
        broker.app.state.relay.draining = False
        gate.limit = limit
        # Re-registered on the next link, unknown there: bye session_unknown closes the peer.
        await until(lambda: agent.session is None, 20, "the unknown session ended")
        assert not agent.session_detached


async def test_a_kept_session_that_ends_before_the_broker_is_back_is_reported_with_its_reason(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """The viewer goes while the broker is away (its peer closes): the agent tells the broker
    on its next link, and the audit records the peer's end, not the restart's."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        session, limit = await broker_away(broker, agent, viewer)
        await viewer.pc.close()
        await until(lambda: agent.session is None, 20, "the session ended on the agent")
        broker.app.state.relay.draining = False
        broker.app.state.agent_gate.limit = limit
    # The agent's next attempt comes after its backoff (bounded).
    ended = await audited(broker, "session_ended", f"session={session.session_id}", 30)
    assert "reason=peer_" in ended.detail
    assert "reported=agent_after_restart" in ended.detail
    ends = [e for e in await audit(broker, "session_ended") if session.session_id in e.detail]
    assert len(ends) == 1


async def test_a_session_no_broker_adopts_in_time_ends_on_the_agent(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    adoption: Adoption = broker.app.state.adoption
    agent.resume_window_s = 1.5
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        broker.app.state.agent_gate.limit = 0  # every handshake answered 503 from now on
        assert await adoption.suspend_all() == 1
        await until(lambda: agent.session_detached, 10, "the session kept, detached")
        await until(lambda: agent.session is None, 10, "the session ended on the agent")
        assert not agent.connected.is_set()


async def test_a_revoked_agent_link_ends_the_session_at_once(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        link = broker.app.state.relay.agent(user.person.org_id, HOST_ID)
        assert link is not None
        # No new link either: an agent that kept the session would keep it detached.
        broker.app.state.agent_gate.limit = 0
        await broker.app.state.relay.disconnect(link, "certificate revoked")
        await until(lambda: agent.session is None, 10, "the session ended")
        assert not agent.session_detached
