"""Viewer-side text in real headless Chromium: the viewer's own IME composes (CDP
Input.imeSetComposition / Input.insertText, as an IME or a tablet's soft keyboard does), the
committed text is typed into the sample EHR on the host, and paste never gets through."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import BrowserContext
from sqlalchemy import select

from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.display import SampleApp
from devkit.identity import Org, Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.test_browser_session import page_point
from tests.support.clinic_settings import set_clinic_settings

pytestmark = [pytest.mark.e2e, pytest.mark.display]

# A synthetic paste into the viewer's text field, carrying text as a clipboard would.
PASTE = """() => {
  const data = new DataTransfer();
  data.setData('text/plain', '病名: 機密');
  const field = document.getElementById('viewer-text');
  return field.dispatchEvent(new ClipboardEvent('paste', {
    clipboardData: data, bubbles: true, cancelable: true}));
}"""


async def blocked_events(broker: RunningBroker) -> list[str]:
    for _ in range(100):
        async with broker.db.session() as s:
            rows = await s.scalars(select(AuditEvent).where(AuditEvent.event == "client_blocked"))
            found = [row.detail for row in rows]
        if found:
            return found
        await asyncio.sleep(0.1)
    return []


async def test_text_composed_in_the_viewer_is_typed_into_the_ehr(
    browser: BrowserContext,
    broker: RunningBroker,
    org: Org,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """かんじゃ composed in the viewer's field is not sent; its conversion 患者 is, and lands
    in the EHR's notes; Enter goes as a key; a soft keyboard's word follows; a paste is
    swallowed (nothing typed) and audited."""
    await set_clinic_settings(broker, org, text_entry="both")
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => document.body.dataset.textEntry === 'viewer'")
    await page.mouse.click(*await page_point(page, *sample_app.center("notes")))
    await page.focus("#viewer-text")
    cdp = await browser.new_cdp_session(page)

    await cdp.send(
        "Input.imeSetComposition", {"text": "かんじゃ", "selectionStart": 4, "selectionEnd": 4}
    )
    assert await page.input_value("#viewer-text") == "かんじゃ"
    await cdp.send("Input.insertText", {"text": "患者"})
    await sample_app.wait_for_async(lambda s: s["notes"] == "患者", timeout=15)
    assert await page.input_value("#viewer-text") == ""

    await page.keyboard.press("Enter")
    await cdp.send("Input.insertText", {"text": "様"})
    state = await sample_app.wait_for_async(lambda s: s["notes"] == "患者\n様", timeout=15)
    # The reading under composition never reached the host: no kana keysym was typed.
    assert not any(key in state["keys"] for key in ("U304B", "U3093", "U3058", "U3083"))

    assert await page.evaluate(PASTE) is False  # cancelled
    assert await page.input_value("#viewer-text") == ""
    audited = await blocked_events(broker)
    assert any("paste_blocked" in detail for detail in audited), audited
    await page.keyboard.press("Enter")
    await cdp.send("Input.insertText", {"text": "了"})
    await sample_app.wait_for_async(lambda s: s["notes"] == "患者\n様\n了", timeout=15)


async def test_host_ime_only_offers_no_text_field(
    browser: BrowserContext, broker: RunningBroker, agent: BrokerLink, doctor: Person
) -> None:
    """Under the default (the host's IME only) the viewer shows no text field."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => document.body.dataset.textEntry === 'host'")
    assert await page.locator("#viewer-text-box").is_hidden()
