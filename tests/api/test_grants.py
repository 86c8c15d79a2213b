"""Grants and their weekly windows against a real broker (SQLite and PostgreSQL): who gets a
ticket, the window checked again at join, the warning and the end at the window's close,
grant and time-zone changes (audited, applied to live sessions)."""

from __future__ import annotations

import datetime as dt

import pytest
from websockets.exceptions import ConnectionClosed

import mamori_protocol as protocol
from broker.access.grants import Access, Window
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_person, signed_in
from mamori_protocol import CloseCode, Direction
from tests.support.grants import (
    add_grant,
    audit,
    audited,
    bare_agent,
    next_local,
    open_viewer,
    receive,
    travel_to,
    wait_online,
)

pytestmark = pytest.mark.integration

HOST = "clinic-pc-1"
WEDNESDAY = 2
# Clerks' after-hours レセプト work: weekdays 18:00-23:00, Tokyo time.
EVENING = Window(frozenset(range(5)), 18 * 60, 23 * 60)


async def test_a_new_clinic_lets_admins_and_doctors_in_and_nobody_else(
    any_broker: RunningBroker, clinic: Org, admin: Person, person: Person
) -> None:
    """The default grants: admins and doctors get a control ticket at any time; staff and
    vendors are refused (403 no_grant, audited) and do not see the host."""
    broker = any_broker
    staff = await make_person(broker, clinic, "staff")
    vendor = await make_person(broker, clinic, "vendor")
    async with bare_agent(broker, clinic, HOST):
        for allowed in (admin, person):
            async with signed_in(broker, allowed) as user:
                await wait_online(user, HOST)
                assert (await user.http.get("/api/hosts")).json()["has_grant"] is True
                response = await user.ticket_response(HOST)
                assert response.status_code == 201, response.text
                assert response.json()["view_only"] is False
                assert response.json()["closes_at"] is None
        for refused in (staff, vendor):
            async with signed_in(broker, refused) as user:
                await wait_online(user, HOST, listed=False)
                # The empty list says why: no grant (ask an admin), not "no PC is on".
                listed = (await user.http.get("/api/hosts")).json()
                assert (listed["hosts"], listed["has_grant"]) == ([], False)
                response = await user.ticket_response(HOST)
                assert response.status_code == 403
                assert response.json()["error"] == "no_grant"
                await audited(broker, "session_refused", f"host={HOST} reason=no_grant at=ticket")
    refusals = [e for e in await audit(broker, "session_refused") if e.org_id == clinic.id]
    assert {e.actor for e in refusals} == {staff.username, vendor.username}
    seeded = [e for e in await audit(broker, "grant_created") if e.org_id == clinic.id]
    assert {e.actor for e in seeded} == {"system"}
    assert {e.detail.split(" ", 1)[1] for e in seeded} == {
        "default role=admin host=* access=control windows=any_time",
        "default role=doctor host=* access=control windows=any_time",
    }


async def test_one_minute_after_the_window_a_session_is_refused_and_audited(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """Staff may view weekdays 18:00-23:00: at Wednesday 23:01 Tokyo time the ticket is
    refused (outside_window, audited); the host is listed with the reason."""
    broker = any_broker
    staff = await make_person(broker, clinic, "staff")
    await add_grant(broker, clinic, role="staff", access=Access.VIEW, windows=(EVENING,))
    travel_to(broker, next_local(broker, WEDNESDAY, 23, 1))
    async with bare_agent(broker, clinic, HOST), signed_in(broker, staff) as user:
        await wait_online(user, HOST)
        host = (await user.http.get("/api/hosts")).json()["hosts"][0]
        assert (host["mode"], host["refusal"]) == (None, "outside_window")
        response = await user.ticket_response(HOST)
        assert response.status_code == 403
        assert response.json()["error"] == "outside_window"
    event = await audited(broker, "session_refused", "reason=outside_window at=ticket")
    assert event.actor == staff.username
    assert event.outcome == "denied"


async def test_one_minute_before_the_end_the_ticket_is_view_only_until_the_window_closes(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """At 22:59 the same grant gives a view-only ticket whose session must end at 23:00
    Tokyo time (14:00 UTC)."""
    broker = any_broker
    staff = await make_person(broker, clinic, "staff")
    await add_grant(broker, clinic, role="staff", access=Access.VIEW, windows=(EVENING,))
    closing = next_local(broker, WEDNESDAY, 23, 0)
    travel_to(broker, closing - dt.timedelta(minutes=1))
    async with bare_agent(broker, clinic, HOST), signed_in(broker, staff) as user:
        await wait_online(user, HOST)
        response = await user.ticket_response(HOST)
        assert response.status_code == 201, response.text
        assert response.json()["view_only"] is True
        closes_at = dt.datetime.fromisoformat(response.json()["closes_at"])
        assert closes_at == closing
        assert closes_at.astimezone(dt.UTC).hour == 14


async def test_the_window_is_checked_again_when_the_viewer_joins(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """A ticket taken at 22:59:50 is refused at 23:00:10 when the WebSocket joins: an error
    naming outside_window, close 4403, audited at=join; the agent hears nothing."""
    broker = any_broker
    staff = await make_person(broker, clinic, "staff")
    await add_grant(broker, clinic, role="staff", access=Access.VIEW, windows=(EVENING,))
    travel_to(broker, next_local(broker, WEDNESDAY, 22, 59, 50))
    async with bare_agent(broker, clinic, HOST) as agent, signed_in(broker, staff) as user:
        await wait_online(user, HOST)
        ticket = await user.ticket(HOST)
        broker.clock.advance(20)
        async with open_viewer(broker, user, ticket) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            error = await receive(viewer, Direction.BROKER_TO_VIEWER)
            assert error == protocol.Error(
                "outside_window", "this host may not be opened at this time"
            )
            with pytest.raises(ConnectionClosed):
                await viewer.recv()
            assert viewer.close_code == CloseCode.POLICY_VIOLATION
        with pytest.raises(TimeoutError):
            await receive(agent, Direction.BROKER_TO_AGENT, timeout=0.5)
    await audited(broker, "session_refused", f"host={HOST} reason=outside_window at=join")


async def test_a_running_session_is_warned_five_minutes_ahead_and_ended_at_the_window_close(
    any_broker: RunningBroker, clinic: Org
) -> None:
    """Joined at 22:54, the viewer gets window_closing at 22:55 (300 s left), then at 23:00
    bye window_closed; the agent is told too and the end is audited with the reason."""
    broker = any_broker
    staff = await make_person(broker, clinic, "staff")
    await add_grant(broker, clinic, role="staff", access=Access.VIEW, windows=(EVENING,))
    joined_at = next_local(broker, WEDNESDAY, 22, 54)
    travel_to(broker, joined_at)
    async with bare_agent(broker, clinic, HOST) as agent, signed_in(broker, staff) as user:
        await wait_online(user, HOST)
        async with open_viewer(broker, user, await user.ticket(HOST)) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            start = await receive(agent, Direction.BROKER_TO_AGENT)
            assert isinstance(start, protocol.SessionStart)
            assert start.view_only is True
            assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Notice(
                "view_only", 0
            )
            travel_to(broker, joined_at + dt.timedelta(minutes=1))
            notice = await receive(viewer, Direction.BROKER_TO_VIEWER)
            assert isinstance(notice, protocol.Notice)
            assert notice.code == "window_closing"
            assert 295 <= notice.seconds_left <= 300
            broker.clock.advance(300)
            assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye(
                "window_closed"
            )
            with pytest.raises(ConnectionClosed):
                await viewer.recv()
            assert viewer.close_code == CloseCode.NORMAL
            bye = await receive(agent, Direction.BROKER_TO_AGENT)
            assert bye == protocol.Bye("window_closed", session_id=start.session_id)
    ended = await audited(
        broker, "session_ended", f"session={start.session_id} reason=window_closed"
    )
    assert ended.actor == staff.username
    started = await audited(broker, "session_started", f"session={start.session_id}")
    assert "mode=view" in started.detail


async def test_grants_are_made_changed_and_taken_away_by_an_admin_and_audited(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """Add a windowed view grant for one person on one host, change it to control at any
    time, delete it; each step is audited with what the grant says."""
    broker = any_broker
    clerk = await make_person(broker, clinic, "staff", "clerk-sato")
    async with bare_agent(broker, clinic, HOST), signed_in(broker, admin) as boss:
        await wait_online(boss, HOST)
        page = (await boss.http.get("/api/admin/grants")).json()
        assert page["time_zone"] == "Asia/Tokyo"
        assert {(g["role"], g["access"], g["host_id"]) for g in page["grants"]} == {
            ("admin", "control", None),
            ("doctor", "control", None),
        }
        assert [h["host_id"] for h in page["hosts"]] == [HOST]
        assert clerk.username in {u["username"] for u in page["users"]}
        body = {
            "user_id": clerk.user_id,
            "host_id": HOST,
            "access": "view",
            "windows": [{"days": [0, 1, 2, 3, 4], "start": "18:00", "end": "23:00"}],
        }
        made = await boss.post("/api/admin/grants", json=body)
        assert made.status_code == 201, made.text
        grant = made.json()
        assert grant["user_name"] == f"Clerk-Sato（{clerk.username}）"
        assert grant["windows"] == [{"days": [0, 1, 2, 3, 4], "start": "18:00", "end": "23:00"}]
        assert grant["created_by"] == admin.username
        changed = await boss.http.put(
            f"/api/admin/grants/{grant['id']}",
            json={"user_id": clerk.user_id, "host_id": None, "access": "control", "windows": []},
            headers=boss.headers,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["access"], changed.json()["host_id"]) == ("control", None)
        gone = await boss.http.delete(f"/api/admin/grants/{grant['id']}", headers=boss.headers)
        assert gone.status_code == 204
        again = await boss.http.delete(f"/api/admin/grants/{grant['id']}", headers=boss.headers)
        assert again.status_code == 404
        ids = [g["id"] for g in (await boss.http.get("/api/admin/grants")).json()["grants"]]
        assert grant["id"] not in ids
    created = await audited(broker, "grant_created", f"grant={grant['id']} ")
    assert created.detail.endswith(
        f"user={clerk.username} host={HOST} access=view windows=days=0,1,2,3,4 18:00-23:00"
    )
    assert created.actor == admin.username
    assert created.target_user_id == clerk.user_id
    await audited(
        broker, "grant_changed", f"grant={grant['id']} user={clerk.username} host=* access=control"
    )
    await audited(broker, "grant_deleted", f"grant={grant['id']} ")


def staff_view(*windows: dict[str, object], **more: object) -> dict[str, object]:
    return {"role": "staff", "access": "view", "windows": list(windows), **more}


def window(days: list[int], start: str, end: str) -> dict[str, object]:
    return {"days": days, "start": start, "end": end}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (staff_view(window([0], "09:00", "09:00")), 400, "window_empty"),
        (staff_view(window([7], "09:00", "10:00")), 400, "invalid_request"),
        (staff_view(window([], "09:00", "10:00")), 400, "invalid_request"),
        (staff_view(window([0], "24:00", "10:00")), 400, "invalid_request"),
        (staff_view(window([0], "9:00", "10:00")), 400, "invalid_request"),
        (staff_view(*[window([0], "09:00", "10:00")] * 15), 400, "invalid_request"),
        (staff_view(user_id=1), 400, "invalid_request"),
        ({"access": "view"}, 400, "invalid_request"),
        ({"role": "nurse", "access": "view"}, 400, "invalid_request"),
        ({"role": "staff", "access": "admin"}, 400, "invalid_request"),
        (staff_view(host_id="no-such-pc"), 404, "not_found"),
        ({"user_id": 2**62, "access": "view"}, 404, "not_found"),
        (staff_view(extra=1), 400, "invalid_request"),
    ],
)
async def test_bad_grants_are_refused_with_a_code(
    any_broker: RunningBroker, admin: Person, body: dict[str, object], status: int, code: str
) -> None:
    """Each malformed or impossible grant gets a clear 4xx and nothing is stored."""
    async with signed_in(any_broker, admin) as boss:
        before = (await boss.http.get("/api/admin/grants")).json()["grants"]
        response = await boss.post("/api/admin/grants", json=body)
        assert (response.status_code, response.json()["error"]) == (status, code), response.text
        assert (await boss.http.get("/api/admin/grants")).json()["grants"] == before


async def test_only_admins_see_or_change_grants_and_the_time_zone(
    any_broker: RunningBroker, person: Person
) -> None:
    async with signed_in(any_broker, person) as doctor:
        for method, path, body in (
            ("GET", "/api/admin/grants", None),
            ("POST", "/api/admin/grants", {"role": "doctor", "access": "view"}),
            ("DELETE", "/api/admin/grants/1", None),
            ("GET", "/api/admin/time-zone", None),
            ("PUT", "/api/admin/time-zone", {"time_zone": "UTC"}),
        ):
            response = await doctor.http.request(method, path, json=body, headers=doctor.headers)
            assert (response.status_code, response.json()["error"]) == (403, "forbidden"), path


async def test_taking_a_grant_away_ends_the_live_session_it_allowed(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """A clerk's session on a per-person grant ends (bye access_revoked, audited) as soon as
    the admin deletes the grant."""
    broker = any_broker
    clerk = await make_person(broker, clinic, "staff")
    grant_id = await add_grant(broker, clinic, user_id=clerk.user_id, access=Access.CONTROL)
    async with (
        bare_agent(broker, clinic, HOST) as agent,
        signed_in(broker, clerk) as user,
        signed_in(broker, admin) as boss,
    ):
        await wait_online(user, HOST)
        async with open_viewer(broker, user, await user.ticket(HOST)) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin(HOST)))
            start = await receive(agent, Direction.BROKER_TO_AGENT)
            assert isinstance(start, protocol.SessionStart)
            assert start.view_only is False
            gone = await boss.http.delete(f"/api/admin/grants/{grant_id}", headers=boss.headers)
            assert gone.status_code == 204
            assert await receive(viewer, Direction.BROKER_TO_VIEWER) == protocol.Bye(
                "access_revoked"
            )
            assert await receive(agent, Direction.BROKER_TO_AGENT) == protocol.Bye(
                "access_revoked", session_id=start.session_id
            )
    await audited(broker, "session_ended", f"session={start.session_id} reason=access_revoked")


async def test_the_time_zone_is_validated_audited_and_moves_the_windows(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """Unknown zones (and path tricks) are refused with time_zone_unknown; a change to New
    York is audited, and 21:00 in Tokyo (07:00 in New York) is then outside 18:00-23:00."""
    broker = any_broker
    staff = await make_person(broker, clinic, "staff")
    await add_grant(broker, clinic, role="staff", access=Access.VIEW, windows=(EVENING,))
    travel_to(broker, next_local(broker, WEDNESDAY, 21, 0))
    async with (
        bare_agent(broker, clinic, HOST),
        signed_in(broker, staff) as user,
        signed_in(broker, admin) as boss,
    ):
        await wait_online(user, HOST)
        assert (await user.ticket_response(HOST)).status_code == 201
        zones = (await boss.http.get("/api/admin/time-zone")).json()
        assert zones["time_zone"] == "Asia/Tokyo"
        assert "America/New_York" in zones["zones"]
        for bad in ("Mars/Olympus", "../../etc/passwd", "asia/tokyo", "", "A" * 65):
            response = await boss.http.put(
                "/api/admin/time-zone", json={"time_zone": bad}, headers=boss.headers
            )
            assert response.status_code == 400, bad
            assert response.json()["error"] in {"time_zone_unknown", "invalid_request"}, bad
        moved = await boss.http.put(
            "/api/admin/time-zone", json={"time_zone": "America/New_York"}, headers=boss.headers
        )
        assert moved.json()["time_zone"] == "America/New_York"
        response = await user.ticket_response(HOST)
        assert (response.status_code, response.json()["error"]) == (403, "outside_window")
    changed = await audited(broker, "time_zone_changed", "Asia/Tokyo->America/New_York")
    assert changed.actor == admin.username


async def test_the_session_tells_the_page_the_clinics_time_zone(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """GET /api/session names the clinic's zone (the page shows every time in it), and
    follows the admin's change at once; the host list names the same zone."""
    async with signed_in(any_broker, admin) as boss:
        before = (await boss.http.get("/api/session")).json()["user"]
        assert before["time_zone"] == "Asia/Tokyo"
        moved = await boss.http.put(
            "/api/admin/time-zone", json={"time_zone": "America/New_York"}, headers=boss.headers
        )
        assert moved.status_code == 200, moved.text
        after = (await boss.http.get("/api/session")).json()["user"]
        hosts = (await boss.http.get("/api/hosts")).json()
    assert after["time_zone"] == hosts["time_zone"] == "America/New_York"
    assert after["organization"] == clinic.name
