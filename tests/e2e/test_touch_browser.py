"""Touch on the remote picture in real headless Chromium with touch emulation (CDP
Emulation.setTouchEmulationEnabled, Input.dispatchTouchEvent): Pointer Events of type
touch, through core/gestures.js, drive the sample EHR on the host."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import BrowserContext, CDPSession

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.display import SampleApp
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.test_browser_session import page_point

pytestmark = [pytest.mark.e2e, pytest.mark.display]


async def touch(cdp: CDPSession, kind: str, points: list[tuple[float, float]]) -> None:
    touch_points: list[dict[str, Any]] = [
        {"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)
    ]
    await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})


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
    cdp = await browser.new_cdp_session(page)
    await cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})

    save = await page_point(page, *sample_app.center("save_button"))
    await touch(cdp, "touchStart", [save])
    await touch(cdp, "touchEnd", [])
    await sample_app.wait_for_async(lambda s: s["saves"] == 1, timeout=15)

    row = sample_app.state()["patient_rows"]["P-1004"]
    await touch(cdp, "touchStart", [await page_point(page, row[0] + 40, row[1] + row[3] // 2)])
    await touch(cdp, "touchEnd", [])
    state = await sample_app.wait_for_async(lambda s: s["selected"] == "P-1004", timeout=15)
    assert state["right_clicks"] == 0

    notes = await page_point(page, *sample_app.center("notes"))
    await touch(cdp, "touchStart", [notes])
    # Holding the finger still is the gesture itself (core/gestures.js LONG_PRESS_MS).
    await asyncio.sleep(1.0)
    await touch(cdp, "touchEnd", [])
    state = await sample_app.wait_for_async(lambda s: s["right_clicks"] == 1, timeout=15)
    assert state["saves"] == 1
