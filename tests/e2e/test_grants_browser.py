"""Grants, vendor approvals and view-only sessions in real headless Chromium: the console's
grants page (a windowed rule added, a rule deleted after confirming, the time zone saved),
a vendor asking from the host list and an admin approving in the requests page (with its
badge), and a view-only viewer that shows 閲覧のみ and sends nothing."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from playwright.async_api import BrowserContext, Page
from sqlalchemy import select

from broker.access import grants as grant_store
from broker.access.grants import Access, Window
from broker.db.models import Organization
from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.chromium import open_viewer
from devkit.display import SampleApp
from devkit.identity import Org, make_person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.support.grants import add_grant, audited, bare_agent, next_local, travel_to

pytestmark = pytest.mark.e2e

REASON = "プリンタードライバーの更新"


async def sign_out(page: Page) -> None:
    await page.click("#nav-logout")
    await screen_is(page, "login")


async def test_grants_page_adds_a_windowed_rule_deletes_one_after_confirming_and_sets_the_zone(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """An admin adds "clerical staff, view only, weekdays 18:00-23:00", sees it listed in
    plain words, deletes it through the in-page confirmation, and saves a time zone."""
    admin = await make_person(broker, org, "admin")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/grants")
    await screen_is(page, "admin")
    rows = page.locator("#grants-rows tr")
    await page.wait_for_function("() => document.querySelectorAll('#grants-rows tr').length === 2")
    assert "最初からある設定" in await rows.first.inner_text()
    await page.select_option("#grants-subject", "role:staff")
    await page.select_option("#grants-access", "view")
    await page.select_option("#grants-when", "windows")
    row = page.locator(".window-row").first
    assert await row.locator("input[data-day='0']").is_checked()
    assert not await row.locator("input[data-day='5']").is_checked()
    await row.locator(".window-start").fill("18:00")
    await row.locator(".window-end").fill("23:00")
    await page.click("#grants-form button[type=submit]")
    await page.wait_for_function("() => document.querySelectorAll('#grants-rows tr').length === 3")
    added = rows.nth(2)
    text = await added.inner_text()
    assert "事務（全員）" in text
    assert "画面を見るだけ" in text
    assert "平日 18:00〜23:00" in text
    grant_id = int(await added.get_attribute("data-grant-id") or "0")
    async with broker.db.session() as s:
        stored = await grant_store.find(s, org.id, grant_id)
        assert stored is not None
        assert (stored.role, stored.access) == ("staff", "view")
        windows = await grant_store.windows_of(s, [grant_id])
        assert windows[grant_id] == [grant_store.Window(frozenset(range(5)), 18 * 60, 23 * 60)]

    await added.locator("button", has_text="削除").click()
    assert "削除しますか" in await added.inner_text()
    await added.locator("button", has_text="やめる").click()
    await page.wait_for_function("() => document.querySelectorAll('#grants-rows tr').length === 3")
    await rows.nth(2).locator("button", has_text="削除").click()
    await rows.nth(2).locator("button", has_text="削除する").click()
    await page.wait_for_function("() => document.querySelectorAll('#grants-rows tr').length === 2")
    await audited(broker, "grant_deleted", f"grant={grant_id} ")

    await page.select_option("#grants-zone", "Asia/Seoul")
    await page.click("#grants-zone-form button[type=submit]")
    await page.wait_for_function(
        "() => document.getElementById('grants-message').textContent.includes('保存しました')"
    )
    async with broker.db.session() as s:
        zone = await s.scalar(select(Organization.time_zone).where(Organization.id == org.id))
    assert zone == "Asia/Seoul"


async def test_a_vendor_asks_in_the_host_list_and_an_admin_approves_in_the_console(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """The vendor sees 承認が必要 and asks with a reason; the admin sees a badge on the
    requests menu and approves; the vendor's entry then opens (approved, once)."""
    admin = await make_person(broker, org, "admin")
    vendor = await make_person(broker, org, "vendor")
    await add_grant(broker, org, role="vendor", access=Access.CONTROL)
    item = f'#host-list li.host-item[data-host-id="{HOST_ID}"]'
    async with bare_agent(broker, org, HOST_ID):
        page = await browser.new_page()
        await sign_in(page, broker, vendor)
        await page.wait_for_selector(f'{item}[data-refusal="vendor_not_approved"]')
        assert await page.locator(f"{item} a.host-link").get_attribute("href") is None
        assert "承認が必要" in await page.locator(f"{item} .badge").inner_text()
        await page.fill(f"{item} .host-request-reason", REASON)
        await page.click(f"{item} .host-request button[type=submit]")
        await page.wait_for_selector(f'{item}[data-request="pending"]')
        assert "承認待ち" in await page.locator(f"{item} .badge").inner_text()
        await sign_out(page)

        await sign_in(page, broker, admin)
        await page.goto(f"{broker.public_origin}/#/admin/users")
        badge = page.locator('.console-link[data-page="requests"] .console-badge')
        await badge.wait_for(timeout=10_000)
        assert await badge.inner_text() == "1"
        await page.click('.console-link[data-page="requests"]')
        pending = page.locator("#requests-pending li[data-request-id]")
        await pending.first.wait_for()
        assert REASON in await pending.first.inner_text()
        await pending.first.locator("button", has_text="承認する").click()
        await page.wait_for_function(
            "() => document.querySelectorAll('#requests-pending li').length === 0"
        )
        assert await badge.count() == 0
        await sign_out(page)

        await sign_in(page, broker, vendor)
        await page.wait_for_selector(f'{item}[data-request="approved"][data-refusal="none"]')
        # The link opens the viewer, which is a page of its own.
        assert await page.locator(f"{item} a.host-link").get_attribute("href") == (
            f"viewer.html#/host/{HOST_ID}"
        )
    await audited(broker, "vendor_approved", "request=")


async def test_a_view_only_viewer_shows_view_only_and_sends_nothing(
    browser: BrowserContext,
    broker: RunningBroker,
    org: Org,
    agent: BrokerLink,
    sample_app: SampleApp,
) -> None:
    """A clerk with a view-only grant sees the picture and 閲覧のみ; clicking and typing on it
    sends nothing (the agent records no input and no violation, the session stays up)."""
    await add_grant(broker, org, role="staff", access=Access.VIEW)
    clerk = await make_person(broker, org, "staff")
    page = await open_viewer(browser, broker, clerk, HOST_ID)
    assert await page.evaluate("() => document.body.dataset.viewOnly") == "true"
    assert "閲覧のみ" in await page.locator("#connection-status-detail").inner_text()
    session = agent.session
    assert session is not None
    assert session.start.view_only is True
    video = page.locator("#remote-video")
    await video.click()
    await page.keyboard.type("abc")
    await page.mouse.wheel(0, 300)
    await asyncio.sleep(1.0)
    assert session.input_stats.injected == 0
    assert session.input_stats.violations == 0
    assert agent.session is session
    assert await page.evaluate("() => document.body.dataset.connection") == "connected"
    assert sample_app.state()["notes"] == ""


async def test_the_viewer_is_warned_before_the_window_closes_then_told_it_closed(
    browser: BrowserContext, broker: RunningBroker, org: Org, agent: BrokerLink
) -> None:
    """Weekdays 18:00-23:00, opened at Wednesday 22:54: at 22:55 the status bar says the
    allowed hours end in 5 minutes; at 23:00 the picture goes and the page says why, in
    Japanese, and does not reconnect; outside the window the host cannot be opened."""
    evening = Window(frozenset(range(5)), 18 * 60, 23 * 60)
    await add_grant(broker, org, role="staff", access=Access.CONTROL, windows=(evening,))
    clerk = await make_person(broker, org, "staff")
    opened_at = next_local(broker, 2, 22, 54)
    travel_to(broker, opened_at)
    page = await open_viewer(browser, broker, clerk, HOST_ID)
    travel_to(broker, opened_at + dt.timedelta(minutes=1))
    await page.wait_for_function(
        "() => document.getElementById('connection-status-detail').textContent.includes('あと5分')",
        timeout=10_000,
    )
    travel_to(broker, opened_at + dt.timedelta(minutes=6))
    await page.wait_for_function(
        "() => document.body.dataset.connection === 'ended'"
        " && document.body.dataset.connectionError === 'window_closed'",
        timeout=10_000,
    )
    assert (
        "許可された時間帯が終わった" in await page.locator("#connection-status-detail").inner_text()
    )
    assert await page.evaluate("() => document.body.dataset.video") == "none"
    await audited(broker, "session_ended", "reason=window_closed")
    await page.click("#reconnect-button")
    await page.wait_for_function(
        "() => document.body.dataset.connection === 'error'"
        " && document.body.dataset.connectionError === 'outside_window'",
        timeout=10_000,
    )
    assert "時間帯ではありません" in await page.locator("#connection-status-detail").inner_text()
