"""A page's resume routed between replicas (issue 18): two brokers on one PostgreSQL database
and one Redis. The session's agent re-registered it on A; its page comes back on B, which
checks it (cookie, secret, device), routes it over A's channel, and A checks it again, spends
the secret and holds the session, sending the next secret through B.

The "restart" here is A's own ``suspend_all`` (exactly what SIGTERM runs: the session let go
without an end, both sockets closed 1012) and clearing ``draining`` for the new process, as
in tests/integration/test_session_adoption.py; tests/e2e/test_replica_failover.py kills a
real replica process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

import mamori_protocol as protocol
from broker.db.models import BrowserSession, OpenSession
from broker.replicas import bus, wire
from broker.signaling.resume_secret import secret_hash
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.identity import SignedIn, make_org, make_person, signed_in
from host_agent.trust.credentials import AgentState
from mamori_protocol import CloseCode, Direction
from tests.integration.test_session_adoption import closed, resume_connect
from tests.replicas.pair import Pair, replica_pair
from tests.support.grants import audited, open_viewer, real_time, receive, wait_online

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

HOST = "reception-pc"
# A routed resume must be answered well inside the 8 s a replica waits before it answers
# ``resume_pending`` (resume_endpoint.WAIT_FOR_AGENT_S), which is how it went before.
ROUTED_WITHIN_S = 3.0


@dataclass
class Readopted:
    """A session re-adopted on A whose page has not come back yet."""

    session_id: str
    token: str
    owner: int
    user_id: int
    org_id: int
    agent: ClientConnection


def agent_link(pair: Pair, state: AgentState) -> connect:
    return connect(f"{pair.a.agent_wss_url}/ws/agent", ssl=state.ssl_context())


@contextlib.asynccontextmanager
async def readopted(pair: Pair, tmp_path: Path) -> AsyncIterator[tuple[Readopted, SignedIn]]:
    """Agent and page on A, A "restarted", the agent re-registered its session on A; the
    signed-in page (its browser session), for resuming anywhere."""
    org = await make_org(pair.a)
    doctor = await make_person(pair.a, org, "doctor")
    with real_time(pair.a.clock):
        state = await enroll_agent(pair.a, org, HOST, tmp_path / "agent", "診察室")
    hello = protocol.encode(protocol.AgentHello(HOST, "診察室", "0.1.0"))
    async with signed_in(pair.a, doctor) as user:
        async with agent_link(pair, state) as agent:
            await agent.send(hello)
            await wait_online(user, HOST)
            async with open_viewer(pair.a, user, await user.ticket(HOST)) as viewer:
                await viewer.send(protocol.encode(protocol.ViewerJoin(HOST, resume=True)))
                start = await receive(agent, Direction.BROKER_TO_AGENT)
                assert isinstance(start, protocol.SessionStart)
                token = await receive(viewer, Direction.BROKER_TO_VIEWER)
                assert isinstance(token, protocol.ResumeToken)
                assert await pair.a.app.state.adoption.suspend_all() == 1
                assert await closed(viewer) == CloseCode.SERVICE_RESTART
            assert await closed(agent) == CloseCode.SERVICE_RESTART
        pair.a.app.state.relay.draining = False  # A's new process
        async with agent_link(pair, state) as agent:
            await agent.send(hello)
            resume = protocol.SessionResume(start.session_id, start.viewer_id, 3)
            await agent.send(protocol.encode(resume))
            resumed = await receive(agent, Direction.BROKER_TO_AGENT)
            assert resumed == protocol.SessionResumed(start.session_id)
            async with pair.a.db.session() as s:
                row = await s.get(OpenSession, start.session_id)
                assert row is not None
                assert row.owner_id is not None
                owner = row.owner_id
            yield (
                Readopted(start.session_id, token.token, owner, doctor.user_id, org.id, agent),
                user,
            )


async def first_answer(page: ClientConnection, token: str) -> protocol.Message:
    await page.send(protocol.encode(protocol.ViewerResume(token)))
    return await receive(page, Direction.BROKER_TO_VIEWER, timeout=ROUTED_WITHIN_S + 2)


async def test_a_resume_on_the_other_replica_is_taken_over_on_the_holder_at_once(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The page comes back on B: A takes it over at once (not B's 8 s resume_pending), the
    next secret reaches the page through B, and signaling flows both ways through B."""
    async with (
        replica_pair(server_certs, tmp_path) as pair,
        readopted(pair, tmp_path) as (
            session,
            user,
        ),
    ):
        async with resume_connect(pair.b, user) as page:
            began = time.monotonic()
            fresh = await first_answer(page, session.token)
            took_s = time.monotonic() - began
            load = os.getloadavg()[0]
            print(f"\nresume through B taken over on A in {took_s * 1000:.0f} ms (load {load:.2f})")
            assert isinstance(fresh, protocol.ResumeToken), fresh
            assert fresh.token != session.token
            assert took_s < ROUTED_WITHIN_S
            async with pair.a.db.session() as s:
                row = await s.get(OpenSession, session.session_id)
                assert row is not None
                assert row.resume_hash == secret_hash(fresh.token)
            held = pair.a.app.state.relay.agent(session.org_id, HOST).session
            assert held is not None
            assert held.session_id == session.session_id
            assert pair.b.app.state.relay.agent(session.org_id, HOST) is None

            await page.send(protocol.encode(protocol.IceCandidate("", "0", 0)))
            forwarded = await receive(session.agent, Direction.BROKER_TO_AGENT)
            assert forwarded == protocol.IceCandidate("", "0", 0, session_id=session.session_id)
            back = protocol.IceCandidate("", "0", 0, session_id=session.session_id)
            await session.agent.send(protocol.encode(back))
            assert await receive(page, Direction.BROKER_TO_VIEWER) == protocol.IceCandidate(
                "", "0", 0
            )

            # An admin's end on A reaches the page on B and the agent.
            ended = await pair.a.app.state.relay.end_session(
                session.org_id, session.session_id, "ended_by_admin"
            )
            assert ended
            assert await receive(page, Direction.BROKER_TO_VIEWER) == protocol.Bye("ended_by_admin")
            assert await receive(session.agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                "ended_by_admin", session_id=session.session_id
            )
        done = await audited(pair.a, "session_ended", f"session={session.session_id}")
        assert "reason=ended_by_admin" in done.detail


async def test_one_secret_raced_on_both_replicas_is_accepted_once(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The same secret presented on A (local) and B (routed to A) at the same moment: one
    page gets the next secret, the other is refused at once, and the row keeps the
    winner's secret."""
    async with (
        replica_pair(server_certs, tmp_path) as pair,
        readopted(pair, tmp_path) as (
            session,
            user,
        ),
    ):
        async with (
            resume_connect(pair.a, user) as on_a,
            resume_connect(pair.b, user) as on_b,
        ):
            answers = await asyncio.gather(
                first_answer(on_a, session.token), first_answer(on_b, session.token)
            )
        won = [a for a in answers if isinstance(a, protocol.ResumeToken)]
        lost = [a for a in answers if not isinstance(a, protocol.ResumeToken)]
        assert len(won) == 1, answers
        assert len(lost) == 1, answers
        assert isinstance(lost[0], protocol.Error)
        assert lost[0].code == "resume_refused", lost[0]
        async with pair.a.db.session() as s:
            row = await s.get(OpenSession, session.session_id)
            assert row is not None
            assert row.resume_hash == secret_hash(won[0].token)


async def test_a_wrong_secret_or_another_browser_session_is_refused_and_audited(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """On B: a wrong secret, and the right one from another browser session of the same
    person, are refused (4401) and audited. On A: a resume routed to it (forged here
    straight onto Redis, as only Redis could) with a wrong secret or another browser
    session is refused and audited at=route. None of it spends the secret: the page then
    takes its session back through B."""
    async with (
        replica_pair(server_certs, tmp_path) as pair,
        readopted(pair, tmp_path) as (
            session,
            user,
        ),
    ):
        async with resume_connect(pair.b, user) as page:
            wrong = await first_answer(page, secrets.token_urlsafe(32))
            assert wrong == protocol.Error("resume_refused", "resume: unknown secret")
            assert await closed(page) == CloseCode.UNAUTHORIZED
        person = user.person
        async with (
            signed_in(pair.b, person) as elsewhere,
            resume_connect(pair.b, elsewhere) as thief,
        ):
            stolen = await first_answer(thief, session.token)
            assert stolen == protocol.Error("resume_refused", "resume: unknown secret")
            assert await closed(thief) == CloseCode.UNAUTHORIZED
            async with pair.a.db.session() as s:
                other = await s.scalar(
                    select(BrowserSession.id).where(
                        BrowserSession.user_id == session.user_id,
                        BrowserSession.id != session.owner,
                    )
                )
            assert other is not None
            refused = await audited(pair.b, "viewer_refused", "resume: unknown secret")
            assert refused.actor_user_id == session.user_id

            forged = [
                (secrets.token_urlsafe(32), session.owner, "reason=secret"),
                (session.token, other, "reason=secret"),
            ]
            for secret, owner, reason in forged:
                answer = await _forged_resume(pair, session, secret, owner)
                assert answer.op == "joined"
                assert answer["error"] == "resume_refused"
                await audited(pair.a, "viewer_refused", f"at=route {reason}")

        async with resume_connect(pair.b, user) as page:
            fresh = await first_answer(page, session.token)
            assert isinstance(fresh, protocol.ResumeToken), fresh


async def _forged_resume(pair: Pair, session: Readopted, secret: str, owner: int) -> wire.Message:
    """A ``resume`` published to A from a replica "broker-x" (this test listens as it)."""
    redis = Redis.from_url(pair.redis_url)
    try:
        async with redis.pubsub() as sub:
            await sub.subscribe(bus.channel_of("broker-x"))
            conn = secrets.token_urlsafe(16)
            text = wire.encode(
                "resume", "broker-x", conn=conn, org=session.org_id, host=HOST, owner=owner,
                user=session.user_id, session=session.session_id, secret=secret,
            )  # fmt: skip
            assert await redis.publish(bus.channel_of("broker-a"), text) == 1
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                item = await sub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if item is not None:
                    message = wire.parse(item["data"])
                    if message.fields.get("conn") == conn:
                        return message
            raise AssertionError("A never answered the routed resume")
    finally:
        await redis.aclose()


def test_a_routed_resume_is_a_closed_message() -> None:
    """The ``resume`` op: every field, none more, secret and session ids as tokens."""
    fields = {
        "conn": "c" * 16, "org": 1, "host": HOST, "owner": 2, "user": 3,
        "session": "s" * 22, "secret": "k" * 43,
    }  # fmt: skip
    assert wire.parse(wire.encode("resume", "broker-b", **fields)).fields == fields
    for bad in (
        {**fields, "device": 4},
        {k: v for k, v in fields.items() if k != "secret"},
        {**fields, "secret": "k" * 65},
        {**fields, "owner": "2"},
    ):
        with pytest.raises(wire.WireError):
            wire.encode("resume", "broker-b", **bad)
