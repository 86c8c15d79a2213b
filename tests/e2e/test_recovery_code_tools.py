"""Recovery codes can be printed alone and copied (issue 12): the director had no way but
writing ten 19-character codes down by hand."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext

from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.identity import Person

pytestmark = pytest.mark.e2e


async def test_new_codes_are_printed_alone_and_copied_exactly(
    browser: BrowserContext, broker: RunningBroker, doctor: Person
) -> None:
    """On the account page, new codes get Print and Copy: Copy puts exactly the ten codes,
    one a line, on the clipboard and says so; Print shows the codes and hides the rest."""
    page = await browser.new_page()
    await sign_in(page, broker, doctor)
    await page.goto(f"{broker.public_origin}/#/account")
    await screen_is(page, "account")
    assert await page.locator("#screen-account .code-copy").is_hidden()
    await page.click("#account-recovery-renew")
    await page.locator("#account-code-list li").nth(9).wait_for()
    codes = await page.locator("#account-code-list li").all_inner_texts()

    # What the copy event carried, read after the page's own handler filled it.
    await page.evaluate(
        """() => window.addEventListener('copy', (e) => {
             window.copied = e.clipboardData.getData('text/plain');
           })"""
    )
    await page.click("#screen-account .code-copy")
    assert await page.evaluate("() => window.copied") == "\n".join(codes)
    assert "コピーしました" in await page.inner_text("#screen-account .code-tools-note")

    await page.click("#screen-account .code-print")
    await page.emulate_media(media="print")
    visibility = await page.evaluate(
        """() => [document.getElementById('account-code-list'),
                  document.getElementById('account-heading'),
                  document.querySelector('header')]
             .map((e) => e && getComputedStyle(e).visibility)"""
    )
    assert visibility[0] == "visible"
    assert visibility[1] == "hidden"
    assert visibility[2] in ("hidden", None)
