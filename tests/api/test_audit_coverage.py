"""Refusals that were not in the audit trail before the accountability issue: a second factor
tried while the account is locked, an unknown enrollment link, a viewer turned away."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import mamori_protocol as protocol
from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.identity import (
    Org,
    Person,
    anonymous_csrf,
    make_org,
    make_person,
    password_step,
    sign_in_client,
)
from mamori_protocol import Direction

pytestmark = pytest.mark.integration


async def trail(broker: RunningBroker, event: str) -> list[AuditEvent]:
    async with broker.db.session() as s:
        return list(
            await s.scalars(select(AuditEvent).where(AuditEvent.event == event).order_by("id"))
        )


async def test_a_second_factor_while_locked_is_audited(
    any_broker: RunningBroker, person: Person
) -> None:
    """Session A waits at the second factor; session B's five wrong codes lock the account;
    A's code is then refused as locked, and that refusal is in the trail."""
    async with any_broker.http() as http_a, any_broker.http() as http_b:
        first = await password_step(http_a, person.username, person.password)
        second = await password_step(http_b, person.username, person.password)
        for attempt in range(1, 6):
            wrong = await http_b.post(
                "/api/login/totp",
                json={"code": "000000"},
                headers={"X-CSRF-Token": second.json()["csrf_token"]},
            )
            # The fifth wrong code locks, and its answer says so at once.
            assert wrong.status_code == (429 if attempt == 5 else 401)
        locked = await http_a.post(
            "/api/login/totp",
            json={"code": person.next_code(any_broker)},
            headers={"X-CSRF-Token": first.json()["csrf_token"]},
        )
        assert locked.status_code == 429
    refusals = [
        (e.outcome, e.detail, e.actor, e.org_id) for e in await trail(any_broker, "login_mfa")
    ]
    assert ("denied", "locked", person.username, person.org_id) in refusals


async def test_an_unknown_enrollment_link_is_audited(any_broker: RunningBroker) -> None:
    """Inspecting or redeeming a link that does not exist answers 404 and leaves a line."""
    async with any_broker.http() as http:
        csrf = await anonymous_csrf(http)
        headers = {"X-CSRF-Token": csrf, "X-Forwarded-For": "203.0.113.77"}
        token = "x" * 43
        inspect = await http.post("/api/enrollment/inspect", json={"token": token}, headers=headers)
        redeem = await http.post(
            "/api/enrollment", json={"token": token, "password": "Hinode#Clinic7"}, headers=headers
        )
    assert (inspect.status_code, redeem.status_code) == (404, 404)
    found = [(e.outcome, e.detail, e.org_id) for e in await trail(any_broker, "enrollment_started")]
    assert found == [
        ("denied", "inspect link_invalid", None),
        ("denied", "redeem link_invalid", None),
    ]


async def test_turned_away_viewers_are_audited(
    any_broker: RunningBroker, clinic: Org, person: Person
) -> None:
    """A viewer socket without a session, and a signed-in viewer asking for a host its clinic
    does not have: both refused, both in the trail (the second under the person's name)."""
    broker = any_broker
    with pytest.raises(InvalidStatus):
        async with connect(
            f"{broker.wss_url}/ws/viewer?ticket=nothing",
            ssl=broker.client_ssl(),
            origin=broker.origin,  # type: ignore[arg-type]
        ):
            pass
    other = await make_org(broker, "よそ医院")
    await make_person(broker, other, "doctor")
    async with broker.http() as http:
        me = await sign_in_client(broker, http, person)
        ticket = await me.ticket("nowhere-pc")
        async with connect(
            f"{broker.wss_url}/ws/viewer?ticket={ticket}",
            ssl=broker.client_ssl(),
            additional_headers={"Cookie": me.cookie_header()},
            origin=broker.origin,  # type: ignore[arg-type]
        ) as viewer:
            await viewer.send(protocol.encode(protocol.ViewerJoin("nowhere-pc")))
            error = protocol.parse(await viewer.recv(), Direction.BROKER_TO_VIEWER)
            assert isinstance(error, protocol.Error)
            assert error.code == "unknown_host"
    refused = [(e.actor, e.org_id, e.detail) for e in await trail(broker, "viewer_refused")]
    assert refused == [
        ("", None, "no active session, no valid ticket or foreign origin"),
        (person.username, clinic.id, "host=nowhere-pc unknown_host"),
    ]
