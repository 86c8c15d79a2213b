"""The canvas video path (app/canvas_video.js) in real headless Chromium: with the setting on,
the host's encoded frames are decoded with WebCodecs and drawn on a canvas lying exactly over
the <video> (H.264 and VP8), and without RTCRtpScriptTransform or WebCodecs, or when the
transform cannot be set, the <video> shows the picture as before."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest
from playwright.async_api import BrowserContext, Page

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer, video_rgb
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID
from tests.e2e.test_browser_session import page_point, screen_rgb

pytestmark = [pytest.mark.e2e, pytest.mark.display]

REGION = (0, 0, 640, 360)
# The setting (core/encoded_frames.js VIDEO_PATH_KEY), stored before the viewer page loads.
CANVAS_ON = "localStorage.setItem('mamori.video', 'canvas');"
# Offer VP8 only: the viewer puts H.264 first and the agent takes it whenever offered.
VP8_ONLY = """
const prefer = RTCRtpTransceiver.prototype.setCodecPreferences;
RTCRtpTransceiver.prototype.setCodecPreferences = function (codecs) {
  return prefer.call(this, codecs.filter((c) => c.mimeType.toLowerCase() !== 'video/h264'));
};
"""
NO_WEBCODECS = "delete window.VideoDecoder; delete window.EncodedVideoChunk;"
TRANSFORM_THROWS = (
    "window.RTCRtpScriptTransform = function () { throw new Error('refused by the test'); };"
)

# The canvas belongs to the viewer's worker (OffscreenCanvas): its pixels come from there.
_SAMPLE_CANVAS = """async ([x, y, w, h]) => {
  const {width, height, data} = await window.mamoriCanvasVideo.read([x, y, w, h]);
  let text = '';
  for (let i = 0; i < data.length; i += 4) {
    text += String.fromCharCode(data[i], data[i + 1], data[i + 2]);
  }
  return {size: [width, height], rgb: btoa(text)};
}"""


async def canvas_rgb(page: Page, box: tuple[int, int, int, int]) -> np.ndarray:
    result = await page.evaluate(_SAMPLE_CANVAS, list(box))
    assert result["size"] == [1280, 720]
    rgb = np.frombuffer(base64.b64decode(result["rgb"]), dtype=np.uint8)
    return rgb.reshape(box[3], box[2], 3).astype(np.float64)


async def canvas_state(page: Page) -> dict[str, object]:
    state: dict[str, object] = await page.evaluate(
        "() => { const c = window.mamoriCanvasVideo;"
        " return {state: c.state, reason: c.reason, drawn: c.drawn, counts: c.counts}; }"
    )
    return state


async def video_shows_the_screen(page: Page, xvfb: XvfbDisplay) -> None:
    size, rgb = await video_rgb(page, REGION)
    assert size == [1280, 720]
    difference = np.abs(rgb - screen_rgb(xvfb, REGION)).mean()
    assert difference < 6, f"the <video> differs from the screen by {difference:.1f} per channel"


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_the_canvas_draws_the_host_picture_where_the_video_is(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    xvfb: XvfbDisplay,
    doctor: Person,
    codec: str,
) -> None:
    await browser.add_init_script(CANVAS_ON + (VP8_ONLY if codec == "VP8" else ""))
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => window.mamoriCanvasVideo.state === 'drawing'")
    await asyncio.sleep(1.0)  # let the refinement frames settle
    difference = np.abs(await canvas_rgb(page, REGION) - screen_rgb(xvfb, REGION)).mean()
    assert difference < 6, f"the canvas differs from the screen by {difference:.1f} per channel"

    # Shown, over the video, in exactly the video's box, under the tiles and the cursor.
    canvas = page.locator("#remote-canvas")
    assert await canvas.is_visible()
    assert await canvas.bounding_box() == await page.locator("#remote-video").bounding_box()
    order = await page.evaluate(
        "() => [...document.querySelector('.video-stage').children].map((e) => e.id)"
    )
    assert order.index("remote-video") + 1 == order.index("remote-canvas")
    assert order.index("remote-canvas") < order.index("remote-tiles") < order.index("remote-cursor")
    # The page hit-tests through it: a click lands on the video (input_capture.js).
    hit = await page.evaluate(
        "() => { const r = document.getElementById('remote-video').getBoundingClientRect();"
        " return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2).id; }"
    )
    assert hit == "remote-video"

    # Typing changes the picture: the canvas keeps drawing and shows what the screen shows.
    notes = tuple(sample_app.state()["geometry"]["notes"])
    assert len(notes) == 4
    screen_before = screen_rgb(xvfb, notes)
    drawn_before = (await canvas_state(page))["drawn"]
    await page.mouse.click(*await page_point(page, *sample_app.center("notes")))
    await page.keyboard.type("canvas path", delay=40)
    await sample_app.wait_for_async(lambda s: "canvas path" in s["notes"], timeout=10)
    await asyncio.sleep(0.7)
    screen_after = screen_rgb(xvfb, notes)
    changed = (np.abs(screen_after - screen_before).max(axis=2) > 60).sum()
    assert changed > 50, f"typing changed only {changed} pixels of the notes on the host"
    difference = np.abs(await canvas_rgb(page, notes) - screen_after).mean()
    assert difference < 6, f"the typed notes differ on the canvas by {difference:.1f} per channel"
    state = await canvas_state(page)
    assert state["state"] == "drawing", state
    assert isinstance(state["drawn"], int)
    assert isinstance(drawn_before, int)
    assert state["drawn"] - drawn_before >= 10, state
    measured = await page.evaluate("() => ({...window.mamoriStats})")
    assert measured["codec"] == f"video/{codec}"
    # Started on the first keyframe: at most a frame or two skipped, a keyframe asked at most
    # once, no decoder error.
    counts = state["counts"]
    assert isinstance(counts, dict), state
    assert counts["errors"] == 0, counts
    assert counts["keyRequests"] <= 1, counts
    assert counts["skipped"] <= 2, counts


@pytest.mark.parametrize(
    ("broken", "state"),
    [(NO_WEBCODECS, "unavailable"), (TRANSFORM_THROWS, "fallback")],
    ids=["no-webcodecs", "transform-throws"],
)
async def test_without_the_apis_the_video_shows_the_picture(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    xvfb: XvfbDisplay,
    doctor: Person,
    broken: str,
    state: str,
) -> None:
    await browser.add_init_script(CANVAS_ON + broken)
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await asyncio.sleep(1.0)
    found = await canvas_state(page)
    assert found["state"] == state, found
    assert not await page.locator("#remote-canvas").is_visible()
    await video_shows_the_screen(page, xvfb)
