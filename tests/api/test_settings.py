"""The console's settings page: an organization's remote-session limits, bounded, audited,
and its own (another clinic's settings are untouched)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from broker.db.models import AuditEvent
from certs.authority import ServerFiles
from devkit.broker import RunningBroker, running_broker
from devkit.databases import BACKENDS, database_url
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
            json={"idle_s": 300, "privacy_screen": "always"},
            headers=boss.headers,
        )
        assert response.status_code == 200, response.text
        changed = response.json()
        assert changed["policy"]["idle_s"] == 300
        assert changed["policy"]["privacy_screen"] == "always"
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
    assert "privacy_screen: off->always" in audited[0].detail


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


def test_the_settings_privacy_screen_values_are_the_brokers() -> None:
    from typing import get_args

    from broker.access.privacy_screen import PrivacyScreen
    from broker.api.settings import PrivacyScreenValue

    assert set(get_args(PrivacyScreenValue)) == {mode.value for mode in PrivacyScreen}


@pytest.fixture(params=BACKENDS)
async def production_broker(
    request: pytest.FixtureRequest, server_certs: ServerFiles, tmp_path: Path
) -> AsyncIterator[RunningBroker]:
    """A broker with the production default privacy screen (outside opening hours)."""
    async with (
        database_url(request.param, tmp_path) as url,
        running_broker(server_certs, url, block_local_input="outside_hours") as running,
    ):
        yield running


WEEKDAYS_9_18 = {"days": [0, 1, 2, 3, 4], "start_minute": 540, "end_minute": 1080}
SATURDAY_9_12 = {"days": [5], "start_minute": 540, "end_minute": 720}


async def test_a_new_clinic_has_default_hours_and_the_screen_outside_them(
    production_broker: RunningBroker,
) -> None:
    """Without a stored policy the mode is the broker's (outside_hours) and the clinic has
    the default opening hours; an admin changes both, each audited old->new."""
    clinic = await make_org(production_broker, "ひまわり医院")
    admin = await make_person(production_broker, clinic, "admin")
    async with signed_in(production_broker, admin) as boss:
        shown = (await boss.http.get("/api/admin/settings")).json()
        assert shown["policy"]["privacy_screen"] == "outside_hours"
        assert shown["defaults"]["privacy_screen"] == "outside_hours"
        assert shown["opening_hours"] == [WEEKDAYS_9_18, SATURDAY_9_12]
        assert shown["time_zone"] == "Asia/Tokyo"
        assert shown["max_opening_windows"] == 14
        evenings = {"days": [0, 2], "start_minute": 1080, "end_minute": 1440}
        response = await boss.http.put(
            "/api/admin/settings",
            json={"privacy_screen": "off", "opening_hours": [WEEKDAYS_9_18, evenings]},
            headers=boss.headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["policy"]["privacy_screen"] == "off"
        assert response.json()["opening_hours"] == [WEEKDAYS_9_18, evenings]
        # The same hours again: nothing changes, nothing is audited.
        again = await boss.http.put(
            "/api/admin/settings",
            json={"opening_hours": [WEEKDAYS_9_18, evenings]},
            headers=boss.headers,
        )
        assert again.status_code == 200
        closed = await boss.http.put(
            "/api/admin/settings", json={"opening_hours": []}, headers=boss.headers
        )
        assert closed.json()["opening_hours"] == []
    audited = await events(production_broker, clinic.id, "settings_changed")
    assert [e.outcome for e in audited] == ["success", "success"]
    assert "privacy_screen: outside_hours->off" in audited[0].detail
    assert (
        "opening_hours: days=0,1,2,3,4 09:00-18:00, days=5 09:00-12:00"
        "->days=0,1,2,3,4 09:00-18:00, days=0,2 18:00-24:00"
    ) in audited[0].detail
    assert audited[1].detail == (
        "opening_hours: days=0,1,2,3,4 09:00-18:00, days=0,2 18:00-24:00->none"
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"privacy_screen": "evenings"}, "privacy_screen"),
        ({"privacy_screen": True}, "privacy_screen"),
        ({"block_local_input": True}, "block_local_input"),
        ({"opening_hours": [{"days": [0], "start_minute": 600, "end_minute": 540}]}, ".end_minute"),
        ({"opening_hours": [{"days": [0], "start_minute": 540, "end_minute": 540}]}, ".end_minute"),
        ({"opening_hours": [{"days": [0], "start_minute": 0, "end_minute": 1441}]}, "end_minute"),
        ({"opening_hours": [{"days": [0], "start_minute": -1, "end_minute": 60}]}, "start_minute"),
        ({"opening_hours": [{"days": [7], "start_minute": 0, "end_minute": 60}]}, "days"),
        ({"opening_hours": [{"days": [], "start_minute": 0, "end_minute": 60}]}, "days"),
        ({"opening_hours": [{"days": [0], "start": "09:00", "end": "18:00"}]}, "start_minute"),
        ({"opening_hours": [WEEKDAYS_9_18] * 15}, "opening_hours"),
    ],
)
async def test_bad_privacy_screen_or_hours_are_refused_and_nothing_changes(
    any_broker: RunningBroker, clinic: Org, admin: Person, body: object, says: str
) -> None:
    async with signed_in(any_broker, admin) as boss:
        before = (await boss.http.get("/api/admin/settings")).json()
        response = await boss.http.put("/api/admin/settings", json=body, headers=boss.headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert says in response.text  # the message names what is wrong
        assert (await boss.http.get("/api/admin/settings")).json() == before
    assert await events(any_broker, clinic.id, "settings_changed") == []


async def test_fourteen_windows_and_a_whole_day_are_accepted(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    hours = [{"days": [d % 7], "start_minute": 0, "end_minute": 1440} for d in range(14)]
    async with signed_in(any_broker, admin) as boss:
        response = await boss.http.put(
            "/api/admin/settings", json={"opening_hours": hours}, headers=boss.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["opening_hours"] == hours
