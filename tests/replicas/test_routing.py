"""Signaling across replicas (issue 18 part 1): two brokers on one PostgreSQL database and
one Redis. A viewer on B reaches an agent on A; an admin's end, a revoked device or
certificate and a sign-out everywhere taken on one replica reach the replica holding the
session or link at once; a clinic CA made on B is trusted on A without a restart; single-use
tickets and vendor approvals stay single-use when two replicas race for them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import mamori_protocol as protocol
from broker.access.grants import Access
from broker.db.models import ViewingDevice
from broker.devices.register import DeviceState
from broker.replicas import wire
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.devices import approved_device, proof
from devkit.identity import make_org, make_person, password_step, signed_in
from devkit.sdp import HOST_ANSWER, VIEWER_OFFER
from mamori_protocol import CloseCode, Direction
from tests.replicas.pair import replica_pair, replica_process, until
from tests.support.grants import add_grant, audited, bare_agent, open_viewer, receive, wait_online

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

HOST = "reception-pc"


def test_replica_messages_are_a_closed_schema() -> None:
    """Unknown ops, missing, extra or mistyped fields, bad names and oversized frames are
    refused; a good message round-trips."""
    good = wire.encode("leave", "broker-a", conn="c" * 16, reason="viewer_left")
    assert wire.parse(good).fields == {"conn": "c" * 16, "reason": "viewer_left"}
    bad = [
        {"op": "nope", "from": "broker-a"},
        {"op": "leave", "from": "broker-a", "conn": "c" * 16},
        {"op": "leave", "from": "broker-a", "conn": "c" * 16, "reason": "x", "more": 1},
        {"op": "leave", "from": "Broker A", "conn": "c" * 16, "reason": "viewer_left"},
        {"op": "leave", "from": "broker-a", "conn": "short", "reason": "viewer_left"},
        {"op": "end_owners", "from": "broker-a", "ids": [1, "2"], "reason": "signed_out"},
        {"op": "end", "from": "broker-a", "conn": "c" * 16, "reason": "x", "code": True},
        {"op": "viewer", "from": "broker-a", "conn": "c" * 16, "frame": "x" * 70_000},
        {"op": "cut_certs", "from": "broker-a", "org": 1, "host": "pc", "serials": ["XYZ"]},
    ]
    for each in bad:
        with pytest.raises(wire.WireError):
            wire.parse(json.dumps(each))
    with pytest.raises(wire.WireError):
        wire.parse(b"[" * 100_000)
    with pytest.raises(wire.WireError):
        wire.parse("x" * (wire.MAX_BYTES + 1))


async def _join(viewer: ClientConnection, agent: ClientConnection) -> protocol.SessionStart:
    await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
    start = await receive(agent, Direction.BROKER_TO_AGENT)
    assert isinstance(start, protocol.SessionStart)
    return start


async def test_a_viewer_on_b_signals_with_an_agent_on_a(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """B lists A's host, admits the viewer, routes the join (A checks it again and holds
    the session), the offer to the agent, the answer and candidates back, and the bye."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        async with bare_agent(pair.a, org, HOST) as agent, signed_in(pair.b, doctor) as user:
            await wait_online(user, HOST)  # A's host in B's list: the directory
            async with open_viewer(pair.b, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                assert start.viewer_id == doctor.username
                session = pair.a.app.state.relay.agent(org.id, HOST).session
                assert session is not None
                assert session.session_id == start.session_id
                assert pair.b.app.state.relay.agent(org.id, HOST) is None
                await viewer.send(protocol.encode(protocol.Offer(VIEWER_OFFER)))
                offer = await receive(agent, Direction.BROKER_TO_AGENT)
                assert isinstance(offer, protocol.Offer)
                assert offer.session_id == start.session_id
                answer = protocol.Answer(HOST_ANSWER, session_id=start.session_id)
                await agent.send(protocol.encode(answer))
                got = await receive(viewer, Direction.BROKER_TO_VIEWER)
                assert isinstance(got, protocol.Answer)
                assert got.sdp == HOST_ANSWER
                await viewer.send(protocol.encode(protocol.Bye("viewer_left")))
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "viewer_left", session_id=start.session_id
                )
        ended = await audited(pair.a, "session_ended", f"session={start.session_id}")
        assert "reason=viewer_left" in ended.detail


async def test_decisions_on_one_replica_reach_the_session_on_the_other(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Agent on A. An admin on B sees the session viewed through B and ends it: the agent
    is told. A device revoked on A ends the viewer on B (4401). A sign-out everywhere on B
    ends a session whose viewer and agent are both on A."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        admin = await make_person(pair.a, org, "admin")
        async with (
            bare_agent(pair.a, org, HOST) as agent,
            signed_in(pair.b, doctor) as user,
            signed_in(pair.b, admin) as boss_b,
            signed_in(pair.a, admin) as boss_a,
        ):
            await wait_online(user, HOST)
            # 1. An admin on B ends it.
            async with open_viewer(pair.b, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                for _ in range(100):
                    live = (await boss_b.http.get("/api/admin/dashboard")).json()
                    if any(s["session_id"] == start.session_id for s in live["sessions"]):
                        break
                    await asyncio.sleep(0.05)
                ended = await boss_b.post(f"/api/admin/live-sessions/{start.session_id}/end")
                assert ended.status_code == 200, ended.text
                bye = await receive(agent, Direction.BROKER_TO_AGENT)
                assert bye == protocol.Bye("ended_by_admin", session_id=start.session_id)
                told = await receive(viewer, Direction.BROKER_TO_VIEWER)
                assert told == protocol.Bye("ended_by_admin")
            # 2. A device revoked on A ends the viewer on B.
            async with open_viewer(pair.b, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                assert user.device is not None
                assert user.device.device_id is not None
                revoked = await boss_a.post(f"/api/admin/devices/{user.device.device_id}/revoke")
                assert revoked.status_code == 200, revoked.text
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "device_revoked", session_id=start.session_id
                )
                assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye(
                    "device_revoked"
                )
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(viewer.recv(), 10)
                assert viewer.close_code == CloseCode.UNAUTHORIZED
        # 3. Sign-out everywhere on B; the session is wholly on A.
        nurse = await make_person(pair.a, org, "doctor")
        async with (
            bare_agent(pair.a, org, HOST) as agent,
            signed_in(pair.a, nurse) as on_a,
        ):
            await wait_online(on_a, HOST)
            async with open_viewer(pair.a, on_a, await on_a.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                async with signed_in(pair.b, nurse) as on_b:
                    out = await on_b.post("/api/logout-everywhere")
                    assert out.status_code in (200, 204), out.text
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "signed_out", session_id=start.session_id
                )


async def test_a_certificate_revoked_on_b_cuts_the_agent_on_a_at_once(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """No waiting for A's periodic link check (set to an hour here)."""
    async with replica_pair(server_certs, tmp_path, agent_recheck_s=3600) as pair:
        org = await make_org(pair.a)
        admin = await make_person(pair.a, org, "admin")
        state = await enroll_agent(pair.a, org, HOST, tmp_path / "agent")
        async with (
            connect(f"{pair.a.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as agent,
            signed_in(pair.b, admin) as boss,
        ):
            await agent.send(protocol.encode(protocol.AgentHello(HOST, "pc", "0.1.0")))
            await until(lambda: pair.a.app.state.relay.agent(org.id, HOST) is not None)
            done = await boss.post(f"/api/admin/hosts/{HOST}/revoke", json={})
            assert done.status_code == 200, done.text
            with pytest.raises(ConnectionClosed):
                for _ in range(10):
                    await asyncio.wait_for(agent.recv(), 10)
            assert agent.close_code == CloseCode.UNAUTHORIZED
        # Nor does A let it back in from its certificate cache.
        with pytest.raises(InvalidStatus):
            async with connect(f"{pair.a.agent_wss_url}/ws/agent", ssl=state.ssl_context()):
                pass


async def test_a_clinic_ca_made_on_b_is_trusted_on_a_without_a_restart(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The clinic and its agent CA are made on B; its agent links to A within seconds (A's
    periodic reload is an hour away)."""
    async with replica_pair(server_certs, tmp_path, agent_recheck_s=3600) as pair:
        org = await make_org(pair.b)
        state = await enroll_agent(pair.b, org, HOST, tmp_path / "agent")
        relay = pair.a.app.state.relay
        linked = False
        for _ in range(50):  # the broadcast is asynchronous: a first try may be early
            try:
                async with connect(
                    f"{pair.a.agent_wss_url}/ws/agent", ssl=state.ssl_context()
                ) as ws:
                    await ws.send(protocol.encode(protocol.AgentHello(HOST, "pc", "0.1.0")))
                    await until(lambda: relay.agent(org.id, HOST) is not None, 5)
                    linked = True
                    break
            except (OSError, InvalidStatus):
                await asyncio.sleep(0.1)
        assert linked


async def test_one_vendor_approval_raced_on_two_replicas_opens_one_session(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Two tickets taken under one approval, joined at the same moment on A and on B:
    exactly one session, the other refused vendor_not_approved."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        await add_grant(pair.a, org, role="vendor", access=Access.CONTROL)
        vendor = await make_person(pair.a, org, "vendor")
        admin = await make_person(pair.a, org, "admin")
        async with (
            bare_agent(pair.a, org, HOST) as agent,
            signed_in(pair.a, vendor) as user,
            signed_in(pair.b, admin) as boss,
        ):
            await wait_online(user, HOST)
            made = await user.post("/api/vendor-requests", json={"host_id": HOST, "reason": "保守"})
            assert made.status_code == 201, made.text
            ok = await boss.post(f"/api/admin/vendor-requests/{made.json()['id']}/approve")
            assert ok.status_code == 200, ok.text
            tickets = [await user.ticket(HOST), await user.ticket(HOST)]
            async with (
                open_viewer(pair.a, user, tickets[0]) as on_a,
                open_viewer(pair.b, user, tickets[1]) as on_b,
            ):
                join = protocol.encode(protocol.ViewerJoin(HOST))
                await asyncio.gather(on_a.send(join), on_b.send(join))
                start = await receive(agent, Direction.BROKER_TO_AGENT)
                assert isinstance(start, protocol.SessionStart)
                refused = 0
                for viewer in (on_a, on_b):
                    try:
                        first = await receive(viewer, Direction.BROKER_TO_VIEWER, timeout=3)
                    except TimeoutError:
                        continue  # the winner: nothing to say until it offers
                    assert isinstance(first, protocol.Error), first
                    assert first.code == "vendor_not_approved"
                    refused += 1
                assert refused == 1
        used = await audited(pair.a, "vendor_approval_used", f"request={made.json()['id']} ")
        assert start.session_id in used.detail


async def test_one_ticket_raced_on_two_replicas_opens_one_socket(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The same ticket presented to A and B at once: one upgrade, one 401-closed refusal."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        async with bare_agent(pair.a, org, HOST), signed_in(pair.a, doctor) as user:
            await wait_online(user, HOST)
            ticket = await user.ticket(HOST)

            async def attempt(broker: RunningBroker) -> bool:
                try:
                    async with open_viewer(broker, user, ticket) as viewer:
                        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
                        await asyncio.wait_for(viewer.recv(), 2)
                        return True
                except (ConnectionClosed, InvalidStatus):
                    return False
                except TimeoutError:
                    return True  # joined and waiting for its offer

            results = await asyncio.gather(attempt(pair.a), attempt(pair.b))
            assert sorted(results) == [False, True]


async def test_a_replica_back_on_the_bus_rechecks_what_it_holds(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """A lost broadcast is a subscriber that was not connected: a device revoked with no
    broadcast at all (as if it were lost), then every subscriber cut by Redis. Once A is
    subscribed again it re-checks its sessions against the database: the session ends."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        async with bare_agent(pair.a, org, HOST) as agent, signed_in(pair.a, doctor) as user:
            await wait_online(user, HOST)
            async with open_viewer(pair.a, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                assert user.device is not None
                async with pair.a.db.session() as s:
                    device = await s.get(ViewingDevice, user.device.device_id)
                    assert device is not None
                    device.state = DeviceState.REVOKED.value
                    await s.commit()
                redis = Redis.from_url(pair.redis_url)
                try:
                    assert await redis.client_kill_filter(_type="pubsub") >= 2
                finally:
                    await redis.aclose()
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "device_revoked", session_id=start.session_id
                )
                assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye(
                    "device_revoked"
                )


async def test_one_device_challenge_raced_on_two_replicas_earns_one_ticket(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """The same signed challenge sent to A and B at once: one ticket, one refusal."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        async with bare_agent(pair.a, org, HOST), signed_in(pair.a, doctor) as user:
            await wait_online(user, HOST)
            user.device = await approved_device(pair.a, user)
            body = await proof(user, user.device, HOST)
            async with pair.b.http(cookies=user.http.cookies) as on_b:
                answers = await asyncio.gather(
                    user.post("/api/viewer-tickets", json=body),
                    on_b.post("/api/viewer-tickets", json=body, headers=user.headers),
                )
            codes = sorted(a.status_code for a in answers)
            assert codes[0] == 201
            assert codes[1] in (400, 403, 409), [a.text for a in answers]


async def test_lockout_counts_exactly_across_replicas(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Twelve wrong passwords for one account at once, six through A and six through B:
    exactly five are evaluated (the threshold), the rest find the account locked, and the
    right password is then refused on both replicas."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        async with contextlib.AsyncExitStack() as stack:
            # A client each: a client's CSRF cookie is its own.
            clients = [await stack.enter_async_context(b.http()) for b in [pair.a, pair.b] * 6]
            answers = await asyncio.gather(
                *(
                    password_step(http, doctor.username, f"Wrong#pass{i}", f"203.0.113.{i}")
                    for i, http in enumerate(clients)
                )
            )
            codes = [a.status_code for a in answers]
            assert codes.count(401) == 5, codes
            assert codes.count(429) == 7, codes
            for http in clients[:2]:
                right = await password_step(http, doctor.username, doctor.password, "203.0.113.99")
                assert right.status_code == 429
                assert right.json()["error"] == "locked"


async def test_a_grant_removed_or_a_person_disabled_on_b_ends_the_session_on_a(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Viewer through B, agent on A: the doctors' grant deleted by an admin on B ends the
    session held on A (access_revoked); with a grant again, disabling the doctor on B ends
    the next one (account_disabled)."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        admin = await make_person(pair.a, org, "admin")
        async with (
            bare_agent(pair.a, org, HOST) as agent,
            signed_in(pair.b, doctor) as user,
            signed_in(pair.b, admin) as boss,
        ):
            await wait_online(user, HOST)
            async with open_viewer(pair.b, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                page = (await boss.http.get("/api/admin/grants")).json()
                (grant,) = [g for g in page["grants"] if g["role"] == "doctor"]
                gone = await boss.http.delete(
                    f"/api/admin/grants/{grant['id']}", headers=boss.headers
                )
                assert gone.status_code == 204, gone.text
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "access_revoked", session_id=start.session_id
                )
                assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye(
                    "access_revoked"
                )
            await add_grant(pair.a, org, role="doctor", access=Access.CONTROL)
            async with open_viewer(pair.b, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                off = await boss.http.patch(
                    f"/api/admin/users/{doctor.user_id}",
                    json={"disabled": True},
                    headers=boss.headers,
                )
                assert off.status_code == 200, off.text
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "account_disabled", session_id=start.session_id
                )


async def test_a_viewer_through_a_replica_process_of_its_own(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Replica C is a separate ``python -m broker serve`` process: a viewer through C
    signals with the agent on A, and a sign-out everywhere through C ends it."""
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        async with (
            replica_process(pair, "broker-c", tmp_path, pair.secret_key) as c,
            bare_agent(pair.a, org, HOST) as agent,
            signed_in(c, doctor) as user,
        ):
            await wait_online(user, HOST)
            async with open_viewer(c, user, await user.ticket(HOST)) as viewer:
                start = await _join(viewer, agent)
                await viewer.send(protocol.encode(protocol.Offer(VIEWER_OFFER)))
                offer = await receive(agent, Direction.BROKER_TO_AGENT)
                assert isinstance(offer, protocol.Offer)
                await agent.send(
                    protocol.encode(protocol.Answer(HOST_ANSWER, session_id=start.session_id))
                )
                assert isinstance(
                    await receive(viewer, Direction.BROKER_TO_VIEWER), protocol.Answer
                )
                out = await user.post("/api/logout-everywhere")
                assert out.status_code == 200, out.text
                assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                    "signed_out", session_id=start.session_id
                )
                assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye(
                    "signed_out"
                )
