"""Row 17 (接続元の制限): a clinic's optional allow-lists of source networks, for everyone,
admins and vendors, checked when a password is accepted, at the second factor and at every
viewer ticket; refusals audited with the address; lists edited by an admin with clear
errors and never so as to shut the admin out. Real broker on SQLite and PostgreSQL; source
addresses come as X-Forwarded-For from the test client, which the broker trusts (loopback is
its default trusted proxy) exactly as it does a clinic's reverse proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from broker.access import source_networks
from broker.access.source_networks import MAX_NETWORKS, parse, refusing_list
from broker.db.models import AuditEvent
from broker.errors import SettingRefused
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.devices import approved_device, proof
from devkit.identity import Org, Person, make_person, password_step, signed_in

pytestmark = pytest.mark.integration

HOST_ID = "uketsuke-pc"
INSIDE_V4, OUTSIDE_V4 = "192.0.2.7", "203.0.113.5"
INSIDE_V6, OUTSIDE_V6 = "2001:db8:1::5", "2001:db8:2::5"
CLINIC_LISTS = ["192.0.2.0/24", "2001:db8:1::/48"]


def test_parsing_and_matching() -> None:
    """Networks and single addresses of both families; IPv4-mapped sources match their
    IPv4 network; an unreadable source is outside every list that is set."""
    assert [n.compressed for n in parse([" 192.0.2.0/24", "2001:db8::1", "192.0.2.0/24"])] == [
        "192.0.2.0/24",
        "2001:db8::1/128",
    ]
    for bad in ["192.0.2.1/24", "300.1.1.1", "192.0.2.0/33", "example.org", "10.0.0.0/8 x"]:
        with pytest.raises(SettingRefused) as refused:
            parse([bad])
        assert refused.value.code == "source_network_invalid", bad
    with pytest.raises(SettingRefused) as refused:
        parse([f"198.51.100.{i}" for i in range(MAX_NETWORKS + 1)])
    assert refused.value.code == "source_networks_too_many"

    lists = {"everyone": CLINIC_LISTS, "admin": ["192.0.2.128/25"], "vendor": []}
    assert refusing_list(lists, "doctor", INSIDE_V4) is None
    assert refusing_list(lists, "doctor", "::ffff:192.0.2.7") is None
    assert refusing_list(lists, "doctor", INSIDE_V6) is None
    assert refusing_list(lists, "doctor", OUTSIDE_V4) == "everyone"
    assert refusing_list(lists, "doctor", OUTSIDE_V6) == "everyone"
    assert refusing_list(lists, "doctor", "unknown") == "everyone"
    assert refusing_list(lists, "admin", INSIDE_V4) == "admin"  # inside everyone, not admin
    assert refusing_list(lists, "admin", "192.0.2.200") is None
    assert refusing_list(lists, "vendor", INSIDE_V4) is None  # the vendor list is empty
    assert refusing_list({"everyone": [], "admin": [], "vendor": []}, "staff", "unknown") is None


async def set_lists(broker: RunningBroker, clinic: Org, by: Person, **lists: list[str]) -> None:
    async with broker.db.session() as s:
        await source_networks.change(
            s, clinic.id, lists, by.user_id, "127.0.0.1", broker.clock.now()
        )
        await s.commit()


async def refusals(broker: RunningBroker) -> list[str]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.event == "source_refused").order_by(AuditEvent.id)
        )
        return [f"{r.outcome} {r.source_address} {r.detail}" for r in rows]


async def test_sign_in_only_from_the_listed_networks(
    any_broker: RunningBroker, clinic: Org, admin: Person, person: Person
) -> None:
    vendor = await make_person(any_broker, clinic, "vendor")
    await set_lists(
        any_broker, clinic, admin, everyone=[*CLINIC_LISTS, "127.0.0.1"], vendor=["192.0.2.64/26"]
    )
    async with any_broker.http() as http:
        for source in (OUTSIDE_V4, OUTSIDE_V6):
            refused = await password_step(http, person.username, person.password, source)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "source_not_allowed"
        # A wrong password from outside is just a wrong password: nothing about the lists.
        wrong = await password_step(http, person.username, "Wrong#password1", OUTSIDE_V4)
        assert wrong.status_code == 401
        for source in (INSIDE_V4, INSIDE_V6):
            accepted = await password_step(http, person.username, person.password, source)
            assert accepted.status_code == 200, accepted.text
        # The vendor list applies to vendors on top of everyone's.
        outside_vendor_list = await password_step(http, vendor.username, vendor.password, INSIDE_V4)
        assert outside_vendor_list.json()["error"] == "source_not_allowed"
        inside = await password_step(http, vendor.username, vendor.password, "192.0.2.70")
        assert inside.status_code == 200, inside.text
    assert await refusals(any_broker) == [
        f"denied {OUTSIDE_V4} address={OUTSIDE_V4} list=everyone at=sign_in",
        f"denied {OUTSIDE_V6} address={OUTSIDE_V6} list=everyone at=sign_in",
        f"denied {INSIDE_V4} address={INSIDE_V4} list=vendor at=sign_in",
    ]


async def test_the_second_factor_from_outside_is_refused(
    any_broker: RunningBroker, clinic: Org, admin: Person, person: Person
) -> None:
    await set_lists(any_broker, clinic, admin, everyone=[*CLINIC_LISTS, "127.0.0.1"])
    async with any_broker.http() as http:
        first = await password_step(http, person.username, person.password, INSIDE_V4)
        assert first.status_code == 200, first.text
        headers = {"X-CSRF-Token": first.json()["csrf_token"], "X-Forwarded-For": OUTSIDE_V4}
        code = {"code": person.next_code(any_broker)}
        second = await http.post("/api/login/totp", json=code, headers=headers)
        assert second.status_code == 403, second.text
        assert second.json()["error"] == "source_not_allowed"
        state = await http.get("/api/session")
        assert state.json()["state"] == "mfa"
    assert await refusals(any_broker) == [
        f"denied {OUTSIDE_V4} address={OUTSIDE_V4} list=everyone at=sign_in"
    ]


async def test_every_ticket_checks_the_source(
    any_broker: RunningBroker, clinic: Org, admin: Person, person: Person, tmp_path: Path
) -> None:
    """Signed in inside, the session asks for a ticket from outside: refused and audited;
    from inside the ticket is issued."""
    await enroll_agent(any_broker, clinic, HOST_ID, tmp_path / "agent", "受付")
    async with signed_in(any_broker, person) as user:
        user.device = await approved_device(any_broker, user)
        await set_lists(any_broker, clinic, admin, everyone=[*CLINIC_LISTS, "127.0.0.1"])

        async def ticket_from(source: str) -> httpx.Response:
            body: dict[str, Any] = await proof(user, user.device, HOST_ID)  # type: ignore[arg-type]
            headers = {**user.headers, "X-Forwarded-For": source}
            return await user.http.post("/api/viewer-tickets", json=body, headers=headers)

        refused = await ticket_from(OUTSIDE_V6)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "source_not_allowed"
        issued = await ticket_from(INSIDE_V6)
        assert issued.status_code == 201, issued.text
    assert await refusals(any_broker) == [
        f"denied {OUTSIDE_V6} address={OUTSIDE_V6} list=everyone at=ticket"
    ]


async def test_admins_edit_the_lists_with_clear_refusals(
    any_broker: RunningBroker, admin: Person
) -> None:
    """Invalid networks, too many, and a list that would shut out the admin's own address
    are refused with their codes and audited; a good change is audited old->new and shown."""
    async with signed_in(any_broker, admin) as a:
        url = "/api/admin/settings/source-networks"
        empty = (await a.http.get(url)).json()
        assert empty == {
            "everyone": [],
            "admin": [],
            "vendor": [],
            "your_address": "127.0.0.1",
            "max_networks": MAX_NETWORKS,
        }
        cases = [
            ({"everyone": ["192.0.2.300/24"]}, "source_network_invalid"),
            (
                {"vendor": [f"198.51.100.{i}" for i in range(MAX_NETWORKS + 1)]},
                "source_networks_too_many",
            ),
            ({"admin": ["192.0.2.0/24"]}, "source_networks_lockout"),
            ({"everyone": CLINIC_LISTS}, "source_networks_lockout"),
        ]
        for body, code in cases:
            response = await a.http.put(url, json=body, headers=a.headers)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == code, body
        assert (await a.http.get(url)).json() == empty
        # From inside the new admin list it is accepted.
        headers = {**a.headers, "X-Forwarded-For": "192.0.2.9"}
        changed = await a.http.put(
            url, json={"admin": ["192.0.2.0/24"], "vendor": ["2001:db8:ab::/48"]}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["admin"] == ["192.0.2.0/24"]
        assert changed.json()["your_address"] == "192.0.2.9"
    async with any_broker.db.session() as s:
        rows = list(
            await s.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == "settings_changed")
                .order_by(AuditEvent.id)
            )
        )
    assert [r.outcome for r in rows] == ["denied"] * 4 + ["success"]
    assert "192.0.2.300/24" in rows[0].detail
    assert "your own address 127.0.0.1" in rows[2].detail
    assert rows[-1].detail == (
        "source_networks.admin: []->[192.0.2.0/24]; source_networks.vendor: []->[2001:db8:ab::/48]"
    )
