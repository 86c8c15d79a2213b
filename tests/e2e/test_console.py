"""The admin console driven in headless Chromium: its menu, the settings page, and a
destructive action that asks before it acts."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, expect
from sqlalchemy import select

from broker.access import source_networks
from broker.access.opening_hours import OpeningWindow, hours_of
from broker.db.models import AuditEvent, OrgPolicy, User
from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.identity import Org, make_person

pytestmark = pytest.mark.e2e


async def test_settings_page_saves_the_clinics_limits(
    broker: RunningBroker, org: Org, browser: BrowserContext
) -> None:
    admin = await make_person(broker, org, "admin")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/settings")
    await screen_is(page, "admin")
    await expect(page.locator("#console-settings")).to_be_visible()
    await expect(page.locator("#console-users")).to_be_hidden()
    link = page.locator('.console-link[data-page="settings"]')
    await expect(link).to_have_attribute("aria-current", "page")
    idle = page.locator("#settings-idle")
    defaults = broker.app.state.relay.policy
    await expect(idle).to_have_value(str(round(defaults.idle_s / 60)))
    await expect(page.locator("#settings-updated")).to_have_text(
        "まだ変更されていません（既定値で動いています）。"
    )

    await idle.fill("0")  # under the bound: refused with a plain message, nothing stored
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-message")).to_have_text("設定できる範囲を超えています。")

    await idle.fill("5")
    await page.select_option("#settings-privacy-screen", "always")
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-message")).to_have_text("保存しました。")
    async with broker.db.session() as s:
        stored = await s.get(OrgPolicy, org.id)
        assert stored is not None
        assert (stored.idle_s, stored.privacy_screen) == (300, "always")

    await page.click("#lang-toggle")
    await expect(page.locator('label[for="settings-idle"]')).to_have_text(
        "End a session after this many idle minutes"
    )
    await expect(link).to_have_text("Settings")


async def test_settings_page_edits_the_opening_hours(
    broker: RunningBroker, org: Org, browser: BrowserContext
) -> None:
    """The privacy screen's opening hours on the settings page: a new clinic's default hours
    are shown as rows, a row removed and one added are saved as typed; a row without a day
    is refused before anything is sent."""
    admin = await make_person(broker, org, "admin")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/settings")
    rows = page.locator("#settings-hours .window-row")
    async with broker.db.session() as s:
        before = await hours_of(s, org.id)
    await expect(rows).to_have_count(len(before))
    assert len(before) >= 1

    await rows.nth(len(before) - 1).locator(".window-remove").click()
    await expect(rows).to_have_count(len(before) - 1)
    await page.click("#settings-add-hours")
    added = rows.nth(len(before) - 1)
    await added.locator(".window-start").fill("10:00")
    await added.locator(".window-end").fill("12:30")
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-message")).to_have_text(
        "時間帯ごとに曜日を 1 つ以上選んでください。"
    )
    async with broker.db.session() as s:
        assert await hours_of(s, org.id) == before  # refused in the page: nothing stored

    await added.locator('input[data-day="6"]').check()  # Sunday
    await page.click("#settings-form button[type=submit]")
    await expect(page.locator("#settings-message")).to_have_text("保存しました。")
    async with broker.db.session() as s:
        after = await hours_of(s, org.id)
    assert after == (*before[:-1], OpeningWindow(frozenset({6}), 10 * 60, 12 * 60 + 30))


async def test_settings_page_edits_the_source_networks(
    broker: RunningBroker, org: Org, browser: BrowserContext
) -> None:
    """Row 17 on the settings page: a typo is named before anything is sent, a list that
    would shut the admin out is explained with the admin's address, a good list is stored;
    both languages."""
    admin = await make_person(broker, org, "admin")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/settings")
    hint = page.locator("#sources-hint")
    await expect(hint).to_contain_text("いまの接続元: 127.0.0.1")
    message = page.locator("#sources-message")
    save = page.locator("#sources-form button[type=submit]")

    await page.fill("#sources-everyone", "192.0.2.0/24\n192.0.2.300/24")
    await save.click()
    await expect(message).to_contain_text(
        "「192.0.2.300/24」はネットワークの書き方になっていません"
    )

    await page.fill("#sources-everyone", "192.0.2.0/24")
    await save.click()
    await expect(message).to_contain_text("いまの接続元（127.0.0.1）から管理できなくなる")

    await page.fill("#sources-everyone", "127.0.0.0/8\n2001:db8::/32")
    await page.fill("#sources-vendor", "198.51.100.0/24")
    await save.click()
    await expect(message).to_have_text("保存しました。次のサインインと接続から使われます。")
    async with broker.db.session() as s:
        lists = await source_networks.lists_of(s, org.id)
    assert lists == {
        "everyone": ["127.0.0.0/8", "2001:db8::/32"],
        "admin": [],
        "vendor": ["198.51.100.0/24"],
    }
    await page.click("#lang-toggle")
    await expect(hint).to_contain_text("You are connecting from 127.0.0.1")
    await expect(page.locator('label[for="sources-vendor"]')).to_contain_text("vendors")


async def test_disabling_a_person_asks_first(
    broker: RunningBroker, org: Org, browser: BrowserContext
) -> None:
    admin = await make_person(broker, org, "admin")
    clerk = await make_person(broker, org, "staff", "clerk-tanaka")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/users")
    row = page.locator(f'tr[data-username="{clerk.username}"]')
    await row.get_by_role("button", name="無効にする").click()
    await expect(row.locator(".confirm-question")).to_contain_text("無効にしますか")
    await row.get_by_role("button", name="やめる").click()  # cancel: nothing happens
    async with broker.db.session() as s:
        user = await s.scalar(select(User).where(User.id == clerk.user_id))
        assert user is not None
        assert user.disabled_at is None
    await row.get_by_role("button", name="無効にする").click()
    await row.get_by_role("button", name="はい、実行します").click()
    await expect(page.locator("#admin-message")).to_have_text("変更しました。")
    async with broker.db.session() as s:
        user = await s.scalar(select(User).where(User.id == clerk.user_id))
        assert user is not None
        assert user.disabled_at is not None


async def test_report_page_shows_rows_downloads_and_records_the_review(
    broker: RunningBroker, org: Org, browser: BrowserContext
) -> None:
    admin = await make_person(broker, org, "admin")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/report")
    five = page.locator('#report-rows tr[data-row="5"]')
    await expect(five).to_contain_text("1/1")  # the one admin has two factor kinds
    await expect(five).to_have_attribute("data-status", "pass")
    await expect(page.locator("#report-review")).to_have_text("まだ誰も確認していません。")
    async with page.expect_download() as waiting:
        await page.click("#report-download")
    download = await waiting.value
    path = await download.path()
    assert path.read_bytes().startswith("\ufeff項番".encode())
    await page.fill("#report-review-note", "四半期点検")
    await page.click("#report-review-form button[type=submit]")
    await expect(page.locator("#report-review")).to_contain_text(admin.username)
    await expect(page.locator("#report-review")).to_contain_text("四半期点検")
    async with broker.db.session() as s:
        events = list(await s.scalars(select(AuditEvent.event).where(AuditEvent.org_id == org.id)))
    assert "report_reviewed" in events
    assert "report_exported" in events


async def test_old_console_links_open_the_console_page_and_only_for_admins(
    broker: RunningBroker, org: Org, browser: BrowserContext
) -> None:
    """The console is its own page (console.html): a link of the one-page days
    (/#/admin/<page>, as alert mails carry) lands there, the header leads back to the host
    list, and a person who is no admin asking for the console gets the host list."""
    admin = await make_person(broker, org, "admin")
    clerk = await make_person(broker, org, "staff", "clerk-sato")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/report")
    await screen_is(page, "admin")
    assert page.url == f"{broker.public_origin}/console.html#/admin/report"
    await expect(page.locator("#console-report")).to_be_visible()
    await page.click("#nav-hosts")
    await screen_is(page, "hosts")
    assert page.url == f"{broker.public_origin}/#/"
    await page.click("#nav-logout")
    await screen_is(page, "login")

    await sign_in(page, broker, clerk)
    await expect(page.locator("#nav-admin")).to_be_hidden()
    await page.goto(f"{broker.public_origin}/console.html#/admin/users")
    await screen_is(page, "hosts")
    assert page.url == f"{broker.public_origin}/#/admin/users"
    assert await page.locator("#console-users").count() == 0
