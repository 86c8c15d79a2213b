"""Touch scrolling of the EHR's patient list, and a tablet turned from portrait to
landscape, in real headless Chromium with touch emulation (tests/e2e/cdp_touch.py).

The sample EHR lists more patients than fit on the host's screen, and its state holds the
list's scroll position (``patient_view``, Tk yview fractions: 0.0 at the top)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import BrowserContext, CDPSession, Page

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.display import SampleApp
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.cdp_touch import (
    Point,
    stroke,
    tap,
    tap_element,
    touch_screen,
    trackpad_cursor_to,
    zoom,
)
from tests.e2e.test_browser_session import page_point
from tests.e2e.test_small_screens import check_fits

pytestmark = [pytest.mark.e2e, pytest.mark.display]


def list_middle(sample_app: SampleApp) -> tuple[int, int]:
    """The host pixel in the middle of the patient list (on a row's name)."""
    x, y, w, h = sample_app.state()["geometry"]["patients"]
    return x + w // 3, y + h // 2


async def host_cursor_near(page: Page, x: int, y: int) -> None:
    """Wait until the viewer draws the host's cursor (as the host reports it) near (x, y)."""
    await page.wait_for_function(
        """([x, y]) => {
          const c = window.mamoriCursor;
          return c.x !== null && Math.abs(c.x - x) <= 3 && Math.abs(c.y - y) <= 3;
        }""",
        arg=[x, y],
        timeout=15_000,
    )


async def test_trackpad_two_finger_drag_scrolls_the_patient_list(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """In trackpad mode, with the cursor moved over the list by one-finger strokes, two
    fingers moving up scroll the list down on the host (natural scrolling) and moving down
    scroll it back to the top; nothing is clicked or selected by any of it."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    cdp = await touch_screen(browser, page)
    assert sample_app.state()["patient_view"][0] == 0.0
    # The first touch shows the touch controls (the page loaded before emulation began):
    # a tap on the EHR's header bar, where a click does nothing.
    header = sample_app.state()["geometry"]["header"]
    await tap(cdp, await page_point(page, header[0] + header[2] // 2, header[1] + header[3] // 2))
    await tap_element(cdp, page.locator("#touch-mode-toggle"))
    await page.wait_for_function("() => document.body.dataset.touchMode === 'trackpad'")

    # Anywhere over the list will do.
    start = await trackpad_cursor_to(page, cdp, list_middle(sample_app), within=30)
    fingers = [(start[0] - 40, start[1]), (start[0] + 40, start[1])]
    up = [(x, y - 160) for x, y in fingers]
    await stroke(cdp, fingers, up)
    state = await sample_app.wait_for_async(lambda s: s["patient_view"][0] > 0, timeout=15)
    assert "P-1001" not in state["patient_rows"]  # scrolled out of view at the top
    assert "P-1030" in state["patient_rows"] or state["patient_view"][0] >= 0.1, state

    await stroke(cdp, up, fingers)
    state = await sample_app.wait_for_async(lambda s: s["patient_view"][0] == 0.0, timeout=15)
    assert "P-1001" in state["patient_rows"]
    assert state["selected"] == ""
    assert state["right_clicks"] == 0
    assert state["saves"] == 0

    # A new viewer (trackpad remembered in localStorage): its trackpad cursor starts where
    # the host's cursor is, over the list, and a two-finger drag as the very first gesture
    # scrolls there (before app/input_capture.js knew a touch point, it was dropped).
    host = await page.evaluate("() => [window.mamoriCursor.x, window.mamoriCursor.y]")
    url = page.url  # signed in and approved already: straight to the viewer
    await page.close()
    page = await browser.new_page()
    await page.goto(url)
    await page.wait_for_function(
        "() => document.body?.dataset.connection === 'connected'"
        " && document.body.dataset.video === 'playing'"
        " && document.body.dataset.input === 'open'",
        timeout=20_000,
    )
    cdp = await touch_screen(browser, page)
    assert await page.evaluate("() => document.body.dataset.touchMode") == "trackpad"
    await host_cursor_near(page, *host)
    await stroke(cdp, fingers, up)
    state = await sample_app.wait_for_async(lambda s: s["patient_view"][0] > 0, timeout=15)
    assert state["selected"] == ""
    assert state["right_clicks"] == 0


async def test_direct_one_finger_drag_hovers_and_two_fingers_scroll(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """In direct mode (the default) a one-finger drag over the list moves the host's
    pointer with the finger and presses no button: no scroll, no selection, no drag on the
    host (by design, core/gestures.js; scrolling is two fingers in both modes). A tap then
    selects the row under the finger, and two fingers moving up scroll the list."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    cdp = await touch_screen(browser, page)
    assert await page.evaluate("() => document.body.dataset.touchMode") == "direct"
    rows = sample_app.state()["patient_rows"]
    first, last = rows["P-1002"], rows["P-1008"]
    begin = (first[0] + 40, first[1] + first[3] // 2)
    end = (last[0] + 40, last[1] + last[3] // 2)
    await stroke(cdp, [await page_point(page, *begin)], [await page_point(page, *end)])
    await host_cursor_near(page, *end)  # the host's pointer followed the finger
    state = sample_app.state()
    assert state["patient_view"][0] == 0.0
    assert state["selected"] == ""

    await tap(cdp, await page_point(page, *end))
    state = await sample_app.wait_for_async(lambda s: s["selected"] == "P-1008", timeout=15)
    # Written after the drag's moves reached the host: the drag did not scroll the list.
    assert state["patient_view"][0] == 0.0

    middle = await page_point(page, *list_middle(sample_app))
    fingers: list[Point] = [middle, (middle[0] + 60, middle[1])]
    await stroke(cdp, fingers, [(x, y - 160) for x, y in fingers])
    state = await sample_app.wait_for_async(lambda s: s["patient_view"][0] > 0, timeout=15)
    assert "P-1001" not in state["patient_rows"]
    assert state["selected"] == "P-1008"
    assert state["right_clicks"] == 0


# The picture as shown: the video's box, its untransformed stage, the contained picture
# (object-fit: contain of the host's frame) and the viewport.
PICTURE = """() => {
  const video = document.querySelector('#remote-video');
  const v = video.getBoundingClientRect();
  const s = document.querySelector('.video-stage').getBoundingClientRect();
  const fit = Math.min(v.width / video.videoWidth, v.height / video.videoHeight);
  const w = video.videoWidth * fit, h = video.videoHeight * fit;
  return {
    video: [v.left, v.top, v.width, v.height],
    stage: [s.left, s.top, s.width, s.height],
    picture: [v.left + (v.width - w) / 2, v.top + (v.height - h) / 2, w, h],
    frame: [video.videoWidth, video.videoHeight],
    objectFit: getComputedStyle(video).objectFit,
    transform: video.style.transform,
    viewport: [innerWidth, innerHeight],
    scrollHeight: document.documentElement.scrollHeight,
    orientation: screen.orientation.type,
  };
}"""


async def turn(
    page: Page, cdp: CDPSession, width: int, height: int, landscape: bool
) -> dict[str, Any]:
    """Give the page a tablet's screen in one orientation; the picture once laid out."""
    orientation = (
        {"type": "landscapePrimary", "angle": 90}
        if landscape
        else {"type": "portraitPrimary", "angle": 0}
    )
    await cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": True,
            "screenWidth": width,
            "screenHeight": height,
            "screenOrientation": orientation,
        },
    )
    await page.wait_for_function(
        """([w, h]) => innerWidth === w && innerHeight === h
            && document.querySelector('.video-stage').getBoundingClientRect().width <= w""",
        arg=[width, height],
        timeout=15_000,
    )
    found: dict[str, Any] = await page.evaluate(PICTURE)
    return found


def assert_fitted(found: dict[str, Any]) -> None:
    """The whole picture inside the viewport, aspect kept, as large as the stage allows."""
    vw, vh = found["viewport"]
    left, top, w, h = found["picture"]
    assert found["frame"] == [1280, 720], found
    assert found["objectFit"] == "contain", found  # the host's aspect is kept
    assert found["transform"] == "", found  # no local zoom left
    assert found["video"] == found["stage"], found
    assert left >= -0.5, found
    assert top >= -0.5, found
    assert left + w <= vw + 0.5, found
    assert top + h <= vh + 0.5, found
    assert found["scrollHeight"] <= vh, found  # nothing below the fold either
    # Fitted: the picture fills the stage along one axis.
    stage_w, stage_h = found["stage"][2], found["stage"][3]
    assert abs(w - stage_w) <= 1 or abs(h - stage_h) <= 1, found


async def test_turning_the_tablet_refits_the_picture_and_taps_still_land(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    doctor: Person,
) -> None:
    """A 768x1024 tablet held upright shows the whole picture; zoomed in by a pinch and
    then turned to landscape (1024x768), the zoom goes back to fit, the picture is fitted
    to the new viewport (inside it, aspect kept, larger than upright) with nothing
    overflowing, and taps land on the host's 保存 and on a patient row."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    cdp = await touch_screen(browser, page)
    upright = await turn(page, cdp, 768, 1024, landscape=False)
    assert upright["orientation"] == "portrait-primary"
    assert_fitted(upright)

    save_host = sample_app.center("save_button")
    fitted = await page_point(page, *save_host)
    cx, cy = fitted[0] + 60, fitted[1]
    await stroke(cdp, [(cx - 20, cy), (cx + 20, cy)], [(cx - 40, cy), (cx + 40, cy)])
    assert await zoom(page) > 1.5

    turned = await turn(page, cdp, 1024, 768, landscape=True)
    assert turned["orientation"] == "landscape-primary"
    await page.wait_for_function("() => document.body.dataset.zoom === '1.00'", timeout=15_000)
    turned = await page.evaluate(PICTURE)
    assert_fitted(turned)
    assert turned["picture"][2] > upright["picture"][2], (upright, turned)
    await check_fits(page, "viewer, landscape tablet")

    await tap(cdp, await page_point(page, *save_host))
    await sample_app.wait_for_async(lambda s: s["saves"] == 1, timeout=15)
    row = sample_app.state()["patient_rows"]["P-1004"]
    await tap(cdp, await page_point(page, row[0] + 40, row[1] + row[3] // 2))
    state = await sample_app.wait_for_async(lambda s: s["selected"] == "P-1004", timeout=15)
    assert state["saves"] == 1
    assert state["right_clicks"] == 0
