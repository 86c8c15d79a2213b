"""An admin ends a live session from the console's dashboard, in headless Chromium: the
doctor's viewer is told an administrator ended it, and the host is free again."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect
from sqlalchemy import select

from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.browser import sign_in
from devkit.chromium import chromium, open_viewer
from devkit.identity import Org, Person, make_person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID

pytestmark = [pytest.mark.e2e, pytest.mark.display]


async def test_admin_ends_a_live_session_and_the_viewer_is_told(
    tmp_path: Path,
    browser: BrowserContext,
    broker: RunningBroker,
    org: Org,
    agent: BrokerLink,
    doctor: Person,
) -> None:
    viewer = await open_viewer(browser, broker, doctor, HOST_ID)
    admin = await make_person(broker, org, "admin", "director")
    async with chromium(tmp_path / "admin-profile", broker.certs.spki_sha256_b64) as console:
        page = await console.new_page()
        await sign_in(page, broker, admin)
        await page.goto(f"{broker.public_origin}/#/admin")  # the dashboard is the first page
        row = page.locator(f'#dashboard-sessions tr[data-host-id="{HOST_ID}"]')
        await expect(row).to_contain_text(doctor.username)
        await row.get_by_role("button", name="接続を終了").click()
        await expect(row.locator(".confirm-question")).to_contain_text("接続を終了しますか")
        await row.get_by_role("button", name="はい、実行します").click()
        await expect(page.locator("#dashboard-message")).to_have_text("接続を終了しました。")
        await expect(page.locator("#dashboard-no-sessions")).to_be_visible()

    await viewer.wait_for_function(
        "() => document.body.dataset.connection === 'ended'", timeout=10_000
    )
    await expect(viewer.locator("#connection-status-detail")).to_contain_text(
        "管理者が接続を終了しました。"
    )
    # Told, not mistaken for a network fault: no reconnection was attempted.
    states = await viewer.evaluate("() => window.mamoriConnectionLog.map((e) => e.state)")
    assert states[-1] == "ended"
    assert "disconnected" not in states
    assert broker.app.state.relay.live_sessions(org.id) == []
    async with broker.db.session() as s:
        rows = list(await s.scalars(select(AuditEvent).where(AuditEvent.org_id == org.id)))
    terminated = [e for e in rows if e.event == "session_terminated"]
    assert [(e.actor, e.target_user_id) for e in terminated] == [("director", doctor.user_id)]
    ended = [e for e in rows if e.event == "session_ended"]
    assert "reason=ended_by_admin" in ended[-1].detail
