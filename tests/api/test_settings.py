"""The console's settings page: an organization's remote-session limits, bounded, audited,
and its own (another clinic's settings are untouched)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_org, make_person, signed_in

pytestmark = pytest.mark.integration


async def events(broker: RunningBroker, org_id: int, kind: str) -> list[AuditEvent]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.event == kind)
        )
        return list(rows)


async def test_admin_changes_settings_and_the_change_is_audited(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    defaults = any_broker.app.state.relay.policy
    async with signed_in(any_broker, admin) as boss:
        shown = (await boss.http.get("/api/admin/settings")).json()
        assert shown["policy"] == shown["defaults"]
        assert shown["policy"]["idle_s"] == defaults.idle_s
        assert shown["updated_at"] is None
        response = await boss.http.put(
            "/api/admin/settings",
            json={"idle_s": 300, "block_local_input": True},
            headers=boss.headers,
        )
        assert response.status_code == 200, response.text
        changed = response.json()
        assert changed["policy"]["idle_s"] == 300
        assert changed["policy"]["block_local_input"] is True
        assert changed["defaults"]["idle_s"] == defaults.idle_s
        assert changed["updated_by"] == admin.user_id
        # Saving the same values again changes nothing and audits nothing new.
        again = await boss.http.put(
            "/api/admin/settings", json={"idle_s": 300}, headers=boss.headers
        )
        assert again.status_code == 200
    audited = await events(any_broker, clinic.id, "settings_changed")
    assert [(e.outcome, e.actor) for e in audited] == [("success", admin.username)]
    assert f"idle_s: {defaults.idle_s}->300" in audited[0].detail
    assert "block_local_input: False->True" in audited[0].detail


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"idle_s": 59}, "setting_out_of_range"),
        ({"idle_s": 3601}, "setting_out_of_range"),
        ({"max_s": 600, "warn_s": 600}, "setting_warn_after_max"),
    ],
)
async def test_values_outside_the_bounds_are_refused_and_audited(
    any_broker: RunningBroker, clinic: Org, admin: Person, body: dict[str, int], code: str
) -> None:
    async with signed_in(any_broker, admin) as boss:
        response = await boss.http.put("/api/admin/settings", json=body, headers=boss.headers)
        assert response.status_code == 400
        assert response.json()["error"] == code
        shown = (await boss.http.get("/api/admin/settings")).json()
        assert shown["policy"] == shown["defaults"]
    denied = await events(any_broker, clinic.id, "settings_changed")
    assert [e.outcome for e in denied] == ["denied"]


@pytest.mark.parametrize(
    "body",
    [{"idle_s": "ten"}, {"idle_s": 10**9}, {"colour": "red"}, {"watermark": "maybe"}, []],
)
async def test_malformed_settings_are_refused(
    any_broker: RunningBroker, admin: Person, body: object
) -> None:
    async with signed_in(any_broker, admin) as boss:
        response = await boss.http.put("/api/admin/settings", json=body, headers=boss.headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


async def test_only_admins_see_or_change_settings_and_only_their_own(
    any_broker: RunningBroker, clinic: Org, admin: Person, person: Person
) -> None:
    other = await make_org(any_broker, "となり医院")
    other_admin = await make_person(any_broker, other, "admin")
    async with signed_in(any_broker, person) as doctor:
        assert (await doctor.http.get("/api/admin/settings")).status_code == 403
        refused = await doctor.http.put(
            "/api/admin/settings", json={"idle_s": 300}, headers=doctor.headers
        )
        assert refused.status_code == 403
    async with signed_in(any_broker, admin) as boss:
        ok = await boss.http.put("/api/admin/settings", json={"idle_s": 300}, headers=boss.headers)
        assert ok.status_code == 200
    async with signed_in(any_broker, other_admin) as neighbour:
        theirs = (await neighbour.http.get("/api/admin/settings")).json()
        assert theirs["policy"]["idle_s"] == any_broker.app.state.relay.policy.idle_s


def test_the_settings_text_entry_values_are_the_protocols() -> None:
    """The console offers exactly the text entry modes the agent knows."""
    from typing import get_args

    from broker.api.settings import TextEntryValue
    from mamori_protocol.text_input import TextEntry

    assert set(get_args(TextEntryValue)) == {mode.value for mode in TextEntry}


async def test_the_ice_policy_and_lan_choice_are_settings_of_the_clinic(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    """Relay only and refusing LAN candidates are set on the settings page, audited, and
    only the two policies exist."""
    async with signed_in(any_broker, admin) as boss:
        shown = (await boss.http.get("/api/admin/settings")).json()
        assert shown["policy"]["ice_policy"] == "all"
        assert shown["policy"]["lan_candidates"] is True
        response = await boss.http.put(
            "/api/admin/settings",
            json={"ice_policy": "relay", "lan_candidates": False},
            headers=boss.headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["policy"]["ice_policy"] == "relay"
        assert response.json()["policy"]["lan_candidates"] is False
        bad = await boss.http.put(
            "/api/admin/settings", json={"ice_policy": "direct"}, headers=boss.headers
        )
        assert bad.status_code == 400
    audited = await events(any_broker, clinic.id, "settings_changed")
    assert "ice_policy: all->relay" in audited[0].detail
    assert "lan_candidates: True->False" in audited[0].detail
