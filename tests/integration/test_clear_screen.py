"""クリアスクリーン after an idle spell is the broker's decision (issue 12, security 1): whatever
order the ends of the session arrive in, the browser session must show its second factor
again, and no ticket is issued until it has. Real broker on SQLite and PostgreSQL (the end
and the session's demotion race in the database), real agent, real aiortc viewer; the idle
limit shortened by setting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

import mamori_protocol as protocol
from broker.db.models import AuditEvent
from certs.authority import ServerFiles
from devkit.broker import RunningBroker, running_broker
from devkit.databases import BACKENDS, database_url
from devkit.identity import SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.session.guard import SessionGuard
from host_agent.webrtc.peer_session import PeerSession
from mamori_protocol import Direction
from tests.conftest import HOST_ID
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]

IDLE_S = 2


@pytest.fixture(params=BACKENDS)
async def broker(
    request: pytest.FixtureRequest, server_certs: ServerFiles, tmp_path: Path
) -> AsyncIterator[RunningBroker]:
    """This module's broker (``user`` and ``agent`` use it): each storage backend, with the
    remote idle limit at IDLE_S seconds."""
    async with (
        database_url(request.param, tmp_path) as url,
        running_broker(server_certs, url, remote_idle_s=IDLE_S) as running,
    ):
        yield running


async def until(predicate: object, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def end_reasons(broker: RunningBroker) -> list[str]:
    async with broker.db.session() as s:
        rows = await s.scalars(select(AuditEvent).where(AuditEvent.event == "session_ended"))
        return [r.detail.split("reason=")[1].split()[0] for r in rows]


async def wait_for_end(broker: RunningBroker) -> list[str]:
    for _ in range(200):
        reasons = await end_reasons(broker)
        if reasons:
            return reasons
        await asyncio.sleep(0.05)
    raise AssertionError("no session_ended in the audit")


async def assert_second_factor_asked(user: SignedIn) -> None:
    session = await user.http.get("/api/session")
    assert session.json()["state"] == "mfa", session.text
    refused = await user.post("/api/viewer-tickets", json={"host_id": HOST_ID})
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "mfa_required"


async def next_signal(viewer: AiortcViewer, timeout: float = 15) -> protocol.Message:
    return protocol.parse(
        await asyncio.wait_for(viewer.ws.recv(), timeout), Direction.BROKER_TO_VIEWER
    )


async def test_agent_closing_the_peer_first_still_asks_for_the_second_factor(
    broker: RunningBroker,
    user: SignedIn,
    agent: BrokerLink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent closes the peer at the idle limit and its idle_timeout is not heard first:
    the viewer's page sees the channel fail and says peer_failed. The broker's own idle
    clock still sends the browser session back to the second factor and records the end as
    idle_timeout (the relay's own timer is held back here so the viewer's bye arrives
    first, the order the attack run saw)."""

    async def close_only(self: PeerSession, reason: str) -> None:
        await self.close()

    monkeypatch.setattr(PeerSession, "_end_by_guard", close_only)
    monkeypatch.setattr("broker.signaling.session_guards.activity_every_s", lambda idle_s: 60.0)
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await until(lambda: viewer.input.readyState == "closed")
        await viewer.ws.send(protocol.encode(protocol.Bye("peer_failed")))
        assert await wait_for_end(broker) == ["idle_timeout"]
    await assert_second_factor_asked(user)


async def test_the_broker_ends_an_idle_session_itself(
    broker: RunningBroker,
    user: SignedIn,
    agent: BrokerLink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent that never ends the idle session (old, broken or hostile): the broker ends
    it with idle_timeout from its own clock and asks for the second factor again."""

    async def never(self: SessionGuard, reason: str) -> None:
        return None

    monkeypatch.setattr(SessionGuard, "_finish", never)
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        assert await next_signal(viewer) == protocol.Bye("idle_timeout")
    assert await wait_for_end(broker) == ["idle_timeout"]
    await assert_second_factor_asked(user)


async def test_input_reported_by_the_agent_keeps_the_session(
    broker: RunningBroker,
    user: SignedIn,
    agent: BrokerLink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Input keeps a session alive on the broker's clock too (the agent reports it as
    ``activity``), for longer than twice the idle limit; once it stops, the session ends
    idle and the second factor is asked again."""

    async def never(self: SessionGuard, reason: str) -> None:
        return None

    monkeypatch.setattr(SessionGuard, "_finish", never)  # the broker's clock alone decides
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await until(lambda: viewer.input.readyState == "open")
        loop = asyncio.get_running_loop()
        until_s = loop.time() + 5.0
        while loop.time() < until_s:
            await viewer.send_input(json.dumps({"t": "move", "x": 10, "y": 10}))
            await asyncio.sleep(0.2)
        assert await end_reasons(broker) == []
        assert agent.session is not None
        assert await next_signal(viewer) == protocol.Bye("idle_timeout")
    await assert_second_factor_asked(user)
