"""The console's dashboard counts what waits for the admin (vendor requests, alerts nobody
acknowledged) and lists those alerts in plain words; only its own clinic's."""

from __future__ import annotations

import pytest

from broker.access import vendor_requests
from broker.agents import hosts as agents
from broker.alerts.records import Kind, raise_alert
from broker.db.models import AlertSettings
from devkit.broker import RunningBroker
from devkit.identity import Org, Person, make_org, make_person, signed_in

pytestmark = pytest.mark.integration


async def waiting_items(broker: RunningBroker, clinic: Org) -> None:
    """One pending vendor request and two alerts (one acknowledged) in ``clinic``."""
    vendor = await make_person(broker, clinic, "vendor")
    now = broker.clock.now()
    async with broker.db.session() as s:
        # No usual-hours rule: signing in at night must not add an alert of its own.
        s.add(AlertSettings(org_id=clinic.id, updated_at=now))
        host = await agents.register_host(s, clinic.id, "uketsuke-pc", "受付", now)
        await vendor_requests.create(s, clinic.id, vendor.user_id, host.id, "定期保守", now)
        await raise_alert(s, clinic.id, Kind.TEST, now, subject="a")
        seen = await raise_alert(s, clinic.id, Kind.TEST, now, subject="b")
        seen.acknowledged_at = now
        await s.commit()


async def test_dashboard_counts_what_waits_and_lists_unread_alerts(
    any_broker: RunningBroker, clinic: Org, admin: Person
) -> None:
    await waiting_items(any_broker, clinic)
    other = await make_org(any_broker, "となり医院")
    await waiting_items(any_broker, other)
    async with signed_in(any_broker, admin) as boss:
        response = await boss.http.get("/api/admin/dashboard")
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["sessions"] == []
    assert shown["waiting"] == {"vendor_requests": 1, "devices": 0, "alerts": 1}
    (alert,) = shown["recent_alerts"]
    assert alert["subject"] == "a"
    assert alert["text"]["ja"]["title"]
    assert alert["text"]["en"]["title"] != alert["text"]["ja"]["title"]
