"""Touch on the remote picture in real headless Chromium with touch emulation (CDP
Emulation.setTouchEmulationEnabled, Input.dispatchTouchEvent): Pointer Events of type
touch, through core/gestures.js, drive the sample EHR on the host."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import BrowserContext

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.display import SampleApp
from devkit.identity import Org, Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.cdp_touch import (
    host_at_fit,
    stroke,
    tap,
    tap_element,
    touch,
    touch_screen,
    trackpad_cursor_to,
    zoom,
)
from tests.e2e.test_browser_session import page_point
from tests.support.clinic_settings import set_clinic_settings

pytestmark = [pytest.mark.e2e, pytest.mark.display]


async def test_tap_and_long_press_drive_the_ehr(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """A tap on 保存 in the picture presses it on the host; a tap on a patient row selects
    it; a finger held still right-clicks on the host; the tap sent no right click."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    cdp = await touch_screen(browser, page)

    save = await page_point(page, *sample_app.center("save_button"))
    await tap(cdp, save)
    await sample_app.wait_for_async(lambda s: s["saves"] == 1, timeout=15)

    row = sample_app.state()["patient_rows"]["P-1004"]
    await tap(cdp, await page_point(page, row[0] + 40, row[1] + row[3] // 2))
    state = await sample_app.wait_for_async(lambda s: s["selected"] == "P-1004", timeout=15)
    assert state["right_clicks"] == 0

    notes = await page_point(page, *sample_app.center("notes"))
    await touch(cdp, "touchStart", [notes])
    # Holding the finger still is the gesture itself (core/gestures.js LONG_PRESS_MS).
    await asyncio.sleep(1.0)
    await touch(cdp, "touchEnd", [])
    state = await sample_app.wait_for_async(lambda s: s["right_clicks"] == 1, timeout=15)
    assert state["saves"] == 1


async def test_pinch_zooms_taps_land_under_zoom_and_trackpad_right_clicks(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """A pinch beside 保存 zooms the picture (no click reaches the host) and moves 保存 on
    the screen; a tap where 保存 is shown now presses it on the host, where an unzoomed
    mapping would have missed it. The toolbar switches to trackpad mode (remembered in
    localStorage), where a two-finger tap right-clicks on the host and strokes move the
    cursor relatively for a tap to click where it is. Less height (the
    on-screen keyboard) keeps the zoom; another width (a turned tablet) puts the picture
    back to fit."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    cdp = await touch_screen(browser, page)
    assert await zoom(page) == 1.0

    save = sample_app.state()["geometry"]["save_button"]
    save_host = sample_app.center("save_button")
    fitted = await page_point(page, *save_host)
    # The fingers' middle stays put and everything else moves away from it: 120 px to the
    # right of 保存, a 2x pinch moves 保存 120 px to the left.
    cx, cy = fitted[0] + 120, fitted[1]
    # The fingers' distance grows from 60 to 120 px: 2x.
    await stroke(cdp, [(cx - 30, cy), (cx + 30, cy)], [(cx - 60, cy), (cx + 60, cy)])
    factor = await zoom(page)
    assert 1.8 <= factor <= 2.2, factor
    state = sample_app.state()
    # No click of either button from the pinch (it only zooms here).
    assert state["saves"] == 0
    assert state["right_clicks"] == 0

    zoomed = await page_point(page, *save_host)  # from the transformed video's box: as shown
    missed = await host_at_fit(page, *zoomed)
    inside = save[0] <= missed[0] < save[0] + save[2] and save[1] <= missed[1] < save[1] + save[3]
    assert not inside, (zoomed, missed, save)  # ignoring the zoom would miss 保存

    await tap(cdp, zoomed)
    await sample_app.wait_for_async(lambda s: s["saves"] == 1, timeout=15)

    toggle = page.locator("#touch-mode-toggle")
    await toggle.wait_for(state="visible")
    assert await toggle.get_attribute("aria-pressed") == "false"
    await tap_element(cdp, toggle)
    await page.wait_for_function("() => document.body.dataset.touchMode === 'trackpad'")
    assert await toggle.get_attribute("aria-pressed") == "true"
    assert await page.evaluate("() => localStorage.getItem('mamori.touchMode')") == "trackpad"

    # Two fingers down and up together: a right click where the cursor is, no left click.
    await tap(cdp, (zoomed[0] - 40, zoomed[1]), (zoomed[0] + 40, zoomed[1]))
    state = await sample_app.wait_for_async(lambda s: s["right_clicks"] == 1, timeout=15)
    assert state["saves"] == 1

    # Less height only is the on-screen keyboard coming up: the zoom stays.
    size = page.viewport_size
    assert size is not None
    await page.set_viewport_size({"width": size["width"], "height": size["height"] - 150})
    await page.wait_for_function(
        "() => document.querySelector('.video-stage').getBoundingClientRect().height"
        f" <= {size['height'] - 150}"
    )
    assert await zoom(page) == factor
    # Another width is a turned tablet or a resized window: back to fit.
    await page.set_viewport_size({"width": size["width"] - 100, "height": size["height"]})
    await page.wait_for_function("() => document.body.dataset.zoom === '1.00'")

    # Trackpad: one-finger strokes move the cursor relatively (lifting and placing the
    # finger again, as on a laptop), then a tap clicks where the cursor is: on P-1004.
    row = sample_app.state()["patient_rows"]["P-1004"]
    target = (row[0] + 40, row[1] + row[3] // 2)
    start = await trackpad_cursor_to(page, cdp, target)
    state = sample_app.state()
    assert state["selected"] != "P-1004"  # the strokes clicked nothing
    await tap(cdp, start)
    state = await sample_app.wait_for_async(lambda s: s["selected"] == "P-1004", timeout=15)
    assert state["right_clicks"] == 1


async def test_keyboard_button_sends_keys_to_the_host(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """With host IME only (the clinic does not allow viewer text), the keyboard button
    focuses the hidden key field (a tablet raises its keyboard for it), and what is typed
    there reaches the EHR's focused notes field as keys."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    cdp = await touch_screen(browser, page)
    assert await page.evaluate("() => document.body.dataset.textEntry") == "host"
    # The first touch shows the touch controls (the page loaded before emulation began).
    await tap(cdp, await page_point(page, *sample_app.center("notes")))
    await tap_element(cdp, page.locator("#keyboard-button"))
    await page.wait_for_function("() => document.activeElement?.id === 'viewer-keys'")
    await page.keyboard.type("abc")
    state = await sample_app.wait_for_async(lambda s: s["notes"].strip() == "abc", timeout=15)
    assert await page.input_value("#viewer-keys") == ""
    assert state["saves"] == 0


async def test_keyboard_button_focuses_the_viewer_text_field_when_allowed(
    browser: BrowserContext,
    broker: RunningBroker,
    org: Org,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """When the clinic allows viewer text, the keyboard button raises the keyboard for the
    viewer's own text field, so a soft keyboard's words are composed there."""
    await set_clinic_settings(broker, org, text_entry="both")
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => document.body.dataset.textEntry === 'viewer'")
    cdp = await touch_screen(browser, page)
    await tap(cdp, await page_point(page, *sample_app.center("notes")))
    await tap_element(cdp, page.locator("#keyboard-button"))
    await page.wait_for_function("() => document.activeElement?.id === 'viewer-text'")
