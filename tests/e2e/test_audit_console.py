"""The console's audit page in real headless Chromium: the chain's verification in words,
a search with filters, a CSV download that opens as Excel expects, and tampering shown."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page

from broker.access.zones import DEFAULT_TIME_ZONE
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.search import csv_columns
from broker.db.models import Organization
from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.identity import Org, Person, make_person, password_step
from tests.support.audit import drop_append_only_triggers, tamper

pytestmark = pytest.mark.e2e


async def open_audit_page(browser: BrowserContext, broker: RunningBroker, admin: Person) -> Page:
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/audit")
    await screen_is(page, "admin")
    await page.wait_for_selector("#console-audit:not([hidden])")
    return page


async def chain_state(page: Page, state: str) -> str:
    await page.wait_for_function(
        f"() => document.getElementById('audit-chain').dataset.state === '{state}'"
    )
    text: str = await page.inner_text("#audit-chain")
    return text


async def test_search_export_and_chain_status(
    browser: BrowserContext, broker: RunningBroker, org: Org, doctor: Person, tmp_path: Path
) -> None:
    """The admin sees the trail verified, narrows it to failures, downloads them as CSV
    (BOM, Japanese headers, the doctor's failed sign-in), and the users page no longer holds
    an audit list."""
    admin = await make_person(broker, org, "admin")
    async with broker.http() as http:
        assert (await password_step(http, doctor.username, "Wrong#password1")).status_code == 401
    page = await open_audit_page(browser, broker, admin)
    status = await chain_state(page, "ok")
    assert status.startswith("書き換えはありません。記録 ")
    await page.wait_for_selector("#audit-rows tr")
    assert await page.locator("#audit-event option").count() > 20

    await page.select_option("#audit-outcome", "failure")
    await page.click("#audit-filter-form button[type=submit]")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#audit-rows tr')].length === 1"
    )
    row = await page.inner_text("#audit-rows tr")
    assert doctor.username in row
    assert "サインイン（パスワード）" in row
    assert "失敗" in row
    assert "1 件見つかりました" in await page.inner_text("#audit-count")

    async with page.expect_download() as waiting:
        await page.click("#audit-export-csv")
    download = await waiting.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name.startswith("mamori-audit-")
    assert saved.name.endswith(".csv")
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == [title for _, title in csv_columns(DEFAULT_TIME_ZONE)]
    assert [(r[2], r[4]) for r in rows[1:]] == [(doctor.username, "失敗")]

    # The export shows up in the trail itself.
    await page.click("#audit-clear")
    await page.select_option("#audit-event", "audit_exported")
    await page.click("#audit-filter-form button[type=submit]")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#audit-rows tr')].length === 1"
        " && document.querySelector('#audit-rows tr').dataset.event === 'audit_exported'"
    )
    assert '"outcome": "failure"' in await page.inner_text("#audit-rows tr")

    await page.goto(f"{broker.public_origin}/#/admin/users")
    await page.wait_for_selector("#console-users:not([hidden])")
    assert await page.locator("#admin-audit").count() == 0


async def test_tampering_is_shown_and_english_switches(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """Someone edits a record in the database: the page names it; in English too."""
    admin = await make_person(broker, org, "admin")
    page = await open_audit_page(browser, broker, admin)
    await chain_state(page, "ok")
    first = await page.locator("#audit-rows tr").last.get_attribute("data-sequence")
    assert first == "1"
    await drop_append_only_triggers(broker.db)
    await tamper(
        broker.db,
        f"UPDATE audit_events SET actor = 'nobody' WHERE chain = {org.id} AND sequence = 1",  # noqa: S608
    )
    await page.reload()
    await screen_is(page, "admin")
    text = await chain_state(page, "broken")
    assert "書き換えの疑いがあります: 記録 1 件目" in text
    assert "の内容が書き換えられています" in text
    await page.click("#lang-toggle")
    await page.wait_for_function(
        "() => document.getElementById('audit-chain').textContent.startsWith('Possible tampering')"
    )
    assert "record 1 (record ID" in await page.inner_text("#audit-chain")


async def test_a_clinic_in_another_zone_searches_and_reads_its_own_days(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """A clinic in New York: a record at 00:30 UTC on 1 May is found under its own 30 April
    and shown at 20:30 there; Japan's 1 May (09:30) finds nothing."""
    async with broker.db.session() as s:
        clinic = await s.get(Organization, org.id)
        assert clinic is not None
        clinic.time_zone = "America/New_York"
        at = dt.datetime(2024, 5, 1, 0, 30, tzinfo=dt.UTC)
        actor = Actor("192.0.2.9", None, org.id, "sato")
        record(s, actor, Event.LOGIN_PASSWORD, Outcome.FAILURE, at)
        await s.commit()
    admin = await make_person(broker, org, "admin")
    page = await open_audit_page(browser, broker, admin)

    async def search_day(day: str) -> None:
        await page.fill("#audit-since", day)
        await page.fill("#audit-until", day)
        await page.click("#audit-filter-form button[type=submit]")

    await search_day("2024-04-30")
    await page.wait_for_function(
        "() => document.getElementById('audit-count').textContent.startsWith('1 件')"
    )
    row = await page.inner_text("#audit-rows tr")
    assert "sato" in row
    assert "2024/4/30 20:30:00" in row
    await search_day("2024-05-01")
    await page.wait_for_function(
        "() => document.getElementById('audit-count').textContent.startsWith('条件に合う記録は')"
    )


async def test_labels_in_english_and_short_columns_on_one_line(
    browser: BrowserContext, broker: RunningBroker, org: Org
) -> None:
    """On a narrow window with a long detail, 成功 stays on one line; in English the
    filters say "All" (never すべて) and every event choice is words, not a code."""
    admin = await make_person(broker, org, "admin")
    async with broker.db.session() as s:
        them = Actor("192.0.2.9", admin.user_id, org.id, admin.username)
        long_detail = "x" * 400
        record(
            s,
            them,
            Event.DEVICE_APPROVED,
            Outcome.SUCCESS,
            dt.datetime.now(dt.UTC),
            detail=long_detail,
        )
        await s.commit()
    page = await open_audit_page(browser, broker, admin)
    await page.set_viewport_size({"width": 760, "height": 900})
    await page.wait_for_selector("#audit-rows tr")
    lines = await page.evaluate(
        """() => [...document.querySelectorAll('#audit-rows tr td:nth-child(4)')].map((td) => {
             const range = document.createRange();
             range.selectNodeContents(td);
             return [td.textContent, new Set([...range.getClientRects()].map((r) => r.top)).size];
           })"""
    )
    assert ("成功", 1) in [tuple(x) for x in lines], lines
    assert all(count == 1 for _, count in lines), lines
    assert "端末の承認" in await page.inner_text("#audit-rows")

    await page.click("#lang-toggle")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    texts = await page.evaluate(
        """() => [...document.querySelectorAll('#audit-event option, #audit-outcome option')]
             .map((o) => o.textContent)"""
    )
    assert "すべて" not in texts
    assert texts.count("All") == 2
    assert not [t for t in texts if "_" in t or not t.strip()], texts
    assert "Device approved" in await page.inner_text("#audit-rows")
