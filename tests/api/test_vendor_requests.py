"""Vendor sessions approved one at a time, against a real broker (SQLite and PostgreSQL):
refused without an approval (audited), allowed once with one, refused again after; denied
and lapsed approvals open nothing; racing tickets get one session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

import mamori_protocol as protocol
from broker.access.grants import Access
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, SignedIn, make_person, signed_in
from mamori_protocol import CloseCode, Direction
from tests.support.grants import (
    add_grant,
    audit,
    audited,
    bare_agent,
    open_viewer,
    receive,
    wait_online,
)

pytestmark = pytest.mark.integration

HOST = "server-room-pc"
REASON = "電子カルテの定期保守（バージョン 3.2 への更新）"


@pytest.fixture
async def vendor(any_broker: RunningBroker, clinic: Org) -> Person:
    """A vendor whose grant allows control of every host at any time (still per approval)."""
    await add_grant(any_broker, clinic, role="vendor", access=Access.CONTROL)
    return await make_person(any_broker, clinic, "vendor", "vendor-tanaka")


@pytest.fixture
async def agent(any_broker: RunningBroker, clinic: Org) -> AsyncIterator[ClientConnection]:
    async with bare_agent(any_broker, clinic, HOST) as link:
        yield link


async def ticket_refusal(user: SignedIn) -> tuple[int, str]:
    response = await user.ticket_response(HOST)
    return response.status_code, response.json().get("error", "")


async def ask(user: SignedIn) -> dict[str, object]:
    response = await user.post("/api/vendor-requests", json={"host_id": HOST, "reason": REASON})
    assert response.status_code == 201, response.text
    made: dict[str, object] = response.json()
    return made


async def decide(boss: SignedIn, request_id: object, verb: str) -> dict[str, object]:
    response = await boss.post(f"/api/admin/vendor-requests/{request_id}/{verb}")
    assert response.status_code == 200, response.text
    decided: dict[str, object] = response.json()
    return decided


async def one_session(
    broker: RunningBroker, user: SignedIn, agent: ClientConnection
) -> protocol.SessionStart:
    """Open a viewer on HOST, see the agent told, leave."""
    async with open_viewer(broker, user, await user.ticket(HOST)) as viewer:
        await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
        start = await receive(agent, Direction.BROKER_TO_AGENT)
        assert isinstance(start, protocol.SessionStart)
        await viewer.send(protocol.encode(protocol.Bye("viewer_left")))
        assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
            "viewer_left", session_id=start.session_id
        )
    return start


async def test_a_vendor_session_needs_an_admins_approval_for_each_session(
    any_broker: RunningBroker, admin: Person, vendor: Person, agent: ClientConnection
) -> None:
    """Without approval: refused (vendor_not_approved, audited). The vendor asks, the admin
    approves, one session starts (approval used, audited); the next attempt is refused
    until a new request is approved."""
    broker = any_broker
    async with signed_in(broker, vendor) as user, signed_in(broker, admin) as boss:
        await wait_online(user, HOST)
        assert await ticket_refusal(user) == (403, "vendor_not_approved")
        await audited(broker, "session_refused", f"host={HOST} reason=vendor_not_approved")
        listed = (await user.http.get("/api/hosts")).json()["hosts"][0]
        assert (listed["refusal"], listed["request"]) == ("vendor_not_approved", None)

        first = await ask(user)
        assert first["state"] == "pending"
        again = await user.post("/api/vendor-requests", json={"host_id": HOST, "reason": "x"})
        assert (again.status_code, again.json()["error"]) == (409, "request_open")
        waiting = (await boss.http.get("/api/admin/vendor-requests")).json()
        assert waiting["pending"] == 1
        assert waiting["requests"][0]["reason"] == REASON
        assert await ticket_refusal(user) == (403, "vendor_not_approved")

        approved = await decide(boss, first["id"], "approve")
        assert approved["state"] == "approved"
        assert approved["decided_by"] == admin.username
        listed = (await user.http.get("/api/hosts")).json()["hosts"][0]
        assert (listed["mode"], listed["request"]["state"]) == ("control", "approved")
        start = await one_session(broker, user, agent)
        assert start.view_only is False
        used = await audited(broker, "vendor_approval_used", f"request={first['id']} ")
        assert f"session={start.session_id}" in used.detail

        assert await ticket_refusal(user) == (403, "vendor_not_approved")
        listed = (await user.http.get("/api/hosts")).json()["hosts"][0]
        assert listed["request"]["state"] == "used"
        second = await ask(user)
        await decide(boss, second["id"], "approve")
        await one_session(broker, user, agent)
        assert await ticket_refusal(user) == (403, "vendor_not_approved")
    assert len(await audit(broker, "vendor_approval_used")) == 2
    assert [e.detail.split()[0] for e in await audit(broker, "vendor_approved")] == [
        f"request={first['id']}",
        f"request={second['id']}",
    ]
    requested = await audited(broker, "vendor_requested", f"request={first['id']} ")
    assert REASON in requested.detail


async def test_a_denied_request_opens_nothing(
    any_broker: RunningBroker, admin: Person, vendor: Person, agent: ClientConnection
) -> None:
    """Denied: still refused, audited as vendor_denied; a decided request cannot be
    decided again."""
    broker = any_broker
    async with signed_in(broker, vendor) as user, signed_in(broker, admin) as boss:
        await wait_online(user, HOST)
        made = await ask(user)
        assert (await decide(boss, made["id"], "deny"))["state"] == "denied"
        assert await ticket_refusal(user) == (403, "vendor_not_approved")
        late = await boss.post(f"/api/admin/vendor-requests/{made['id']}/approve")
        assert (late.status_code, late.json()["error"]) == (409, "request_not_pending")
    denied = await audited(broker, "vendor_denied", f"request={made['id']} ")
    assert denied.target_user_id == vendor.user_id


async def test_an_unused_approval_lapses_after_30_minutes(
    any_broker: RunningBroker, admin: Person, vendor: Person, agent: ClientConnection
) -> None:
    """An approval not used within 30 minutes is expired: the ticket is refused and the
    vendor must ask again."""
    broker = any_broker
    async with signed_in(broker, vendor) as user, signed_in(broker, admin) as boss:
        await wait_online(user, HOST)
        made = await ask(user)
        await decide(boss, made["id"], "approve")
    broker.clock.advance(31 * 60)
    async with signed_in(broker, vendor) as user:
        assert await ticket_refusal(user) == (403, "vendor_not_approved")
        listed = (await user.http.get("/api/hosts")).json()["hosts"][0]
        assert listed["request"]["state"] == "expired"
        assert (await ask(user))["state"] == "pending"


async def test_two_tickets_from_one_approval_give_one_session(
    any_broker: RunningBroker, admin: Person, vendor: Person, agent: ClientConnection
) -> None:
    """Two tickets taken while approved: the first join spends the approval, the second is
    refused at join (vendor_not_approved, 4403, audited)."""
    broker = any_broker
    async with signed_in(broker, vendor) as user, signed_in(broker, admin) as boss:
        await wait_online(user, HOST)
        await decide(boss, (await ask(user))["id"], "approve")
        tickets = [await user.ticket(HOST), await user.ticket(HOST)]
        async with open_viewer(broker, user, tickets[0]) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            start = await receive(agent, Direction.BROKER_TO_AGENT)
            assert isinstance(start, protocol.SessionStart)
        await receive(agent, Direction.BROKER_TO_AGENT)  # its bye
        async with open_viewer(broker, user, tickets[1]) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            error = await receive(viewer, Direction.BROKER_TO_VIEWER)
            assert isinstance(error, protocol.Error)
            assert error.code == "vendor_not_approved"
            with pytest.raises(ConnectionClosed):
                await viewer.recv()
            assert viewer.close_code == CloseCode.POLICY_VIOLATION
    await audited(broker, "session_refused", "reason=vendor_not_approved at=join")


async def test_an_approval_is_not_spent_on_a_host_that_is_offline(
    any_broker: RunningBroker, clinic: Org, admin: Person, vendor: Person
) -> None:
    """Joining while the host is offline fails with unknown_host and keeps the approval:
    once the host is back the vendor gets the session."""
    broker = any_broker
    async with signed_in(broker, vendor) as user, signed_in(broker, admin) as boss:
        async with bare_agent(broker, clinic, HOST):
            await wait_online(user, HOST)
            await decide(boss, (await ask(user))["id"], "approve")
            ticket = await user.ticket(HOST)
        async with open_viewer(broker, user, ticket) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            error = await receive(viewer, Direction.BROKER_TO_VIEWER)
            assert isinstance(error, protocol.Error)
            assert error.code == "unknown_host"
        async with bare_agent(broker, clinic, HOST) as agent:
            await wait_online(user, HOST)
            await one_session(broker, user, agent)


async def test_only_vendors_ask_and_only_for_hosts_a_grant_covers(
    any_broker: RunningBroker, clinic: Org, person: Person, agent: ClientConnection
) -> None:
    """A doctor cannot file a vendor request (vendor_only); a vendor without a grant gets
    no_grant; an unknown host is 404; a reason is required and bounded."""
    broker = any_broker
    ungranted = await make_person(broker, clinic, "vendor")
    async with signed_in(broker, person) as doctor:
        await wait_online(doctor, HOST)
        response = await doctor.post("/api/vendor-requests", json={"host_id": HOST, "reason": "x"})
        assert (response.status_code, response.json()["error"]) == (403, "vendor_only")
        admin_only = await doctor.http.get("/api/admin/vendor-requests")
        assert admin_only.status_code == 403
    async with signed_in(broker, ungranted) as user:
        for body, expected in (
            ({"host_id": HOST, "reason": "x"}, (403, "no_grant")),
            ({"host_id": "no-such-pc", "reason": "x"}, (404, "not_found")),
            ({"host_id": HOST, "reason": ""}, (400, "invalid_request")),
            ({"host_id": HOST, "reason": "あ" * 201}, (400, "invalid_request")),
            ({"host_id": HOST, "reason": "bell\u0007"}, (400, "invalid_request")),
            ({"host_id": HOST}, (400, "invalid_request")),
        ):
            response = await user.post("/api/vendor-requests", json=body)
            assert (response.status_code, response.json()["error"]) == expected, body
