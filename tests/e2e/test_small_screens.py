"""Small screens: the pages a doctor on a home visit uses, at phone (390×844) and tablet
(768×1024) sizes, in Japanese: nothing scrolls sideways and nothing visible is cut off at
the right edge (element rectangles inside the viewport)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from devkit.broker import RunningBroker
from devkit.browser import password_step, screen_is
from devkit.chromium import open_viewer
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID

pytestmark = [pytest.mark.e2e]

SIZES = [(390, 844), (768, 1024)]

# Every visible element whose box reaches past the viewport's right edge (a cut-off
# label, a button half off screen), and the document's overflow.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const cut = [];
  for (const el of document.body.querySelectorAll('*')) {
    // The host's cursor is drawn where the host has it, clipped by the picture's stage.
    if (el.id === 'remote-cursor') continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right > width + 1 || box.left < -1) {
      cut.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${box.left}..${box.right}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: width, cut};
}"""


async def check_fits(page: Page, what: str) -> None:
    found: dict[str, Any] = await page.evaluate(OVERFLOW)
    assert found["scrollWidth"] <= found["clientWidth"], f"{what}: scrolls sideways {found}"
    assert found["cut"] == [], f"{what}: cut off {found['cut'][:5]}"


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["phone", "tablet"])
async def test_sign_in_second_factor_and_host_list_fit(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    doctor: Person,
    width: int,
    height: int,
) -> None:
    """Sign-in, the second factor and the host list fit the screen."""
    page = await browser.new_page()
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"{broker.public_origin}/#/login")
    await screen_is(page, "login")
    await check_fits(page, "sign-in")
    await password_step(page, broker, doctor.username, doctor.password)
    await screen_is(page, "mfa")
    await check_fits(page, "second factor")
    await page.fill("#mfa-totp-code", doctor.next_code(broker))
    await page.click("#mfa-totp-form button[type=submit]")
    await screen_is(page, "hosts")
    await page.wait_for_function("() => document.body.dataset.hostsState === 'ready'")
    await check_fits(page, "host list")


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["phone", "tablet"])
async def test_the_viewer_fits(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    doctor: Person,
    width: int,
    height: int,
) -> None:
    """The viewer with its toolbar fits, and the picture keeps most of the screen."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.set_viewport_size({"width": width, "height": height})
    await check_fits(page, "viewer")
    video = await page.locator("#remote-video").bounding_box()
    assert video is not None
    assert video["width"] >= width - 2
