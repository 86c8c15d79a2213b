"""The alerts page in real headless Chromium: a lockout shows in plain Japanese with a
count on the menu, is acknowledged; the webhook is set up (secret shown once, rotated
after a confirm step) and a test alert reaches a real receiver signed with the new key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from broker.alerts import records as alerts
from broker.db.models import AlertSettings
from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.identity import Org, Person, make_person, password_step
from tests.support.receivers import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.e2e

ALERTING = {"alert_webhook_loopback_http": True, "alert_poll_s": 0.1}


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as running:
        yield running


@pytest.mark.parametrize("broker", [ALERTING], indirect=True)
async def test_alerts_page_shows_acknowledges_and_sets_up_the_webhook(
    browser: BrowserContext,
    broker: RunningBroker,
    org: Org,
    doctor: Person,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    """From the director's first look at a lockout to a signed test alert received."""
    director = await make_person(broker, org, "admin", "inchou")
    async with broker.db.session() as s:
        # No usual-hours rule: the director's own sign-in must not depend on the clock.
        s.add(AlertSettings(org_id=org.id, updated_at=broker.clock.now()))
        await s.commit()
    async with broker.http() as http:
        for _ in range(broker.settings.lockout_threshold):
            # From another address, so the director's own address is not locked too.
            await password_step(http, doctor.username, "Wrong#password1", source="203.0.113.5")

    page = await browser.new_page()
    await sign_in(page, broker, director)
    await page.goto(f"{broker.public_origin}/#/admin/users")
    await screen_is(page, "admin")
    badge = page.locator('.console-link[data-page="alerts"] .console-badge')
    await badge.wait_for()
    assert await badge.inner_text() == "1"

    await page.click('.console-link[data-page="alerts"]')
    item = page.locator("#alerts-list .alert-item").first
    await item.wait_for()
    title = f"{doctor.username.title()}（{doctor.username}） さんのアカウントをロックしました"
    assert await item.locator(".alert-title").inner_text() == title
    assert await item.locator(".alert-severity").inner_text() == "要確認"
    assert "203.0.113.5" in await item.locator(".alert-message").inner_text()
    summary = page.locator("#alerts-summary")
    assert await summary.inner_text() == "まだ確認していない警告が 1 件あります。"
    assert await page.locator("#alerts-mail-unavailable").is_visible()
    await page.screenshot(path=str(tmp_path / "alerts-ja.png"), full_page=True)

    await item.get_by_role("button", name="確認した").click()
    await page.wait_for_function(
        "() => document.querySelector('#alerts-list .alert-item').dataset.acknowledged === 'true'"
    )
    assert await summary.inner_text() == "確認していない警告はありません。"
    assert await badge.count() == 0

    await page.fill("#alerts-webhook", receiver.url)
    await page.click("#alerts-settings-form button[type=submit]")
    await page.locator("#alerts-secret-box").wait_for()
    first_secret = await page.locator("#alerts-secret").inner_text()
    assert len(first_secret) >= 43

    await page.click("#alerts-rotate")
    await page.locator("#alerts-rotate-confirm").wait_for()
    assert await page.locator("#alerts-secret").inner_text() == first_secret
    await page.click("#alerts-rotate-yes")
    await page.wait_for_function(
        f"() => document.getElementById('alerts-secret').textContent !== {first_secret!r}"
    )
    receiver.secret = (await page.locator("#alerts-secret").inner_text()).encode()

    await page.click("#alerts-test")
    (request,) = await receiver.wait_for(1)
    assert request.signature_ok
    assert request.json["title"] == "テスト通知"
    await page.click('.console-link[data-page="users"]')
    await page.click('.console-link[data-page="alerts"]')
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.alert-delivery')]"
        ".some((li) => li.textContent === 'Webhook: 届けました')"
    )

    await page.click("#lang-toggle")
    await page.wait_for_function(
        "() => document.querySelector('#alerts-list .alert-title').textContent === 'Test alert'"
    )
    await page.screenshot(path=str(tmp_path / "alerts-en.png"), full_page=True)


async def test_every_alert_shown_is_acknowledged_with_one_click(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """Back after a weekend of lockouts: one button marks them all as seen, says how many,
    and the menu badge goes."""
    director = await make_person(broker, org, "admin", "inchou")
    now = broker.clock.now()
    async with broker.db.session() as s:
        s.add(AlertSettings(org_id=org.id, updated_at=now))
        for i in range(3):
            await alerts.raise_alert(
                s, org.id, alerts.Kind.LOCKOUT, now, subject=f"u{i}", user=f"u{i}"
            )
        await s.commit()
    page = await browser.new_page()
    await sign_in(page, broker, director)
    await page.goto(f"{broker.public_origin}/#/admin/alerts")
    await screen_is(page, "admin")
    await page.locator("#alerts-list .alert-item").nth(2).wait_for()
    assert await page.inner_text("#alerts-summary") == "まだ確認していない警告が 3 件あります。"
    await page.click("#alerts-ack-all")
    await page.wait_for_function(
        "() => document.getElementById('alerts-message').textContent"
        " === '3 件を確認済みにしました。'"
    )
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#alerts-list .alert-item')]"
        ".every((li) => li.dataset.acknowledged === 'true')"
    )
    assert await page.inner_text("#alerts-summary") == "確認していない警告はありません。"
    assert await page.locator("#alerts-ack-all").is_hidden()
    assert await page.locator('.console-link[data-page="alerts"] .console-badge').count() == 0
