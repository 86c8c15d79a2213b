"""Paste is refused only where it would enter the session (issue 12): the sign-in fields
take a password manager's or a recovery code's paste, and on the viewer page only the
picture and the viewer's text field swallow it."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page

from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.identity import Person

pytestmark = pytest.mark.e2e

# A real ClipboardEvent with text, as a paste from the system clipboard dispatches it;
# whether a listener called preventDefault is what decides if the text lands.
PASTE = """(selector) => {
  const target = selector === 'body' ? document.body : document.querySelector(selector);
  const data = new DataTransfer();
  data.setData('text/plain', 'ABCD-EFGH-JKLM-NPQR');
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  const event = new ClipboardEvent('paste', init);
  target.dispatchEvent(event);
  return event.defaultPrevented;
}"""


async def pasted_refused(page: Page, selector: str) -> bool:
    refused: bool = await page.evaluate(PASTE, selector)
    return refused


async def test_paste_works_in_fields_and_is_refused_on_the_picture(
    browser: BrowserContext, broker: RunningBroker, doctor: Person
) -> None:
    """Sign-in and second-factor fields take a paste; on the viewer page the picture refuses
    it while the rest of the page does not."""
    page = await browser.new_page()
    await page.goto(f"{broker.public_origin}/#/login")
    await screen_is(page, "login")
    assert not await pasted_refused(page, "#login-password")
    assert not await pasted_refused(page, "#login-username")
    await sign_in(page, broker, doctor)
    await page.goto(f"{broker.public_origin}/viewer.html#/host/clinic-pc-1")
    await page.wait_for_selector("#remote-video", state="attached")
    await page.wait_for_function("() => document.body.dataset.connection !== undefined")
    assert await pasted_refused(page, "#remote-video")
    # The viewer's text field sends what is typed to the PC: paste is refused there too.
    assert await pasted_refused(page, "#viewer-text")
    assert not await pasted_refused(page, "body")
