"""A person's session in real headless Chromium: open the host, see the clinic screen, type
into the EHR's notes, press its save button, and be told when the host goes away."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import mss
import numpy as np
import pytest
from playwright.async_api import BrowserContext, Page
from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest

from devkit.broker import RunningBroker
from devkit.chromium import open_viewer
from devkit.chromium import video_rgb as sample_video
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID

pytestmark = [pytest.mark.e2e, pytest.mark.display]


async def video_rgb(page: Page, box: tuple[int, int, int, int]) -> np.ndarray:
    size, rgb = await sample_video(page, box)
    assert size == [1280, 720]
    return rgb


def screen_rgb(display: XvfbDisplay, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    with mss.MSS(display=display.name) as grabber:
        shot = grabber.grab({"left": x, "top": y, "width": w, "height": h})
    return np.frombuffer(shot.rgb, dtype=np.uint8).reshape(h, w, 3).astype(np.float64)


async def page_point(page: Page, x: int, y: int) -> tuple[float, float]:
    """Where host pixel (x, y) is on the page, given object-fit: contain letterboxing."""
    box = await page.locator("#remote-video").bounding_box()
    assert box is not None
    scale = min(box["width"] / 1280, box["height"] / 720)
    left = box["x"] + (box["width"] - 1280 * scale) / 2
    top = box["y"] + (box["height"] - 720 * scale) / 2
    return left + (x + 0.5) * scale, top + (y + 0.5) * scale


async def stats(page: Page) -> dict[str, Any]:
    """The viewer's latest stats sample (waits for the first one of the session)."""
    await page.wait_for_function("() => window.mamoriStats && window.mamoriStats.codec")
    result: dict[str, Any] = await page.evaluate("() => ({...window.mamoriStats})")
    return result


async def test_browser_sees_and_drives_the_clinic_screen(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    xvfb: XvfbDisplay,
    doctor: Person,
) -> None:
    """The video shows the host's pixels; typed text lands in the EHR notes; the save button
    works and its effect appears in the video; frames keep coming while the screen changes."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    # The viewer is a page of its own; it names the host as the host list does.
    assert page.url == f"{broker.public_origin}/viewer.html#/host/{HOST_ID}"
    await page.wait_for_function(
        "() => document.getElementById('viewer-host-name').textContent === '診察室1'"
    )

    # The picture is the host's screen: the header and patient list match the raw pixels.
    region = (0, 0, 640, 360)
    await asyncio.sleep(1.0)  # let the refinement frames settle
    difference = np.abs(await video_rgb(page, region) - screen_rgb(xvfb, region)).mean()
    assert difference < 6, f"video differs from the screen by {difference:.1f} per channel"
    header = np.median((await video_rgb(page, (1150, 6, 120, 14))).reshape(-1, 3), axis=0)
    assert np.abs(header - [0x1E, 0x6B, 0x5C]).max() < 12

    # Click into the notes field and type: the text reaches the app on the host.
    notes_x, notes_y = sample_app.center("notes")
    await page.mouse.click(*await page_point(page, notes_x, notes_y))
    decoded_before = (await stats(page))["framesDecoded"]
    await page.keyboard.type("Mamori e2e: 1+1=2!", delay=40)
    await sample_app.wait_for_async(lambda s: "Mamori e2e: 1+1=2!" in s["notes"], timeout=10)
    await asyncio.sleep(1.0)
    decoded_after = (await stats(page))["framesDecoded"]
    assert decoded_after - decoded_before >= 20, "frames stopped while the screen changed"

    # Press 保存: the app counts it, and the status text appears in the video.
    x, y, _, h = sample_app.state()["geometry"]["status"]
    status_box = (x, y, 300, h)
    before = await video_rgb(page, status_box)
    await page.mouse.click(*await page_point(page, *sample_app.center("save_button")))
    await sample_app.wait_for_async(lambda s: s["saves"] == 1, timeout=10)
    await asyncio.sleep(0.7)
    after = await video_rgb(page, status_box)
    assert np.abs(after - before).mean() > 3, "the save message never showed in the video"

    measured = await stats(page)
    print(f"\nbrowser stats: {measured}")
    assert measured["codec"] == "video/H264"


async def test_viewer_is_told_when_the_host_disconnects(
    browser: BrowserContext, broker: RunningBroker, agent: BrokerLink, doctor: Person
) -> None:
    """Stopping the agent blanks the video and shows "host disconnected", not a frozen frame."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await agent.stop()
    await page.wait_for_function(
        "() => document.body.dataset.connection === 'host_disconnected'", timeout=10_000
    )
    assert await page.locator("#remote-video").is_hidden()
    message = await page.locator("#viewer-message").inner_text()
    assert "切れました" in message or "切断" in message


RECORD_PEERS = """(() => {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__peers.push(this); }
  };
})();"""


async def test_the_host_cursor_is_drawn_over_the_video_without_video_frames(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    xvfb: XvfbDisplay,
    doctor: Person,
) -> None:
    """The agent's cursor shape appears over the picture at the host pointer's position;
    moving the pointer on the host moves it with (almost) no video frames."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => window.mamoriCursor && window.mamoriCursor.id !== null")
    conn = xdisplay.Display(xvfb.name)
    try:
        decoded_before = (await stats(page))["framesDecoded"]
        messages_before = await page.evaluate("() => window.mamoriCursor.messages")
        for i in range(30):
            xtest.fake_input(conn, X.MotionNotify, x=300 + i, y=100 + i)
            conn.sync()
            await asyncio.sleep(1 / 30)
        await page.wait_for_function(
            "() => window.mamoriCursor.x === 329 && window.mamoriCursor.y === 129"
        )
        messages = await page.evaluate("() => window.mamoriCursor.messages") - messages_before
        await asyncio.sleep(1.1)  # one stats sample later
        decoded = (await stats(page))["framesDecoded"] - decoded_before
    finally:
        conn.close()
    assert messages >= 20
    assert decoded < messages / 2, f"{decoded} frames for {messages} cursor moves"
    assert await page.evaluate("() => document.body.dataset.cursor") == "shown"
    cursor = await page.locator("#remote-cursor").bounding_box()
    assert cursor is not None
    x, y = await page_point(page, 329, 129)
    # The shape is drawn with its hotspot on the pointer: the pointer is inside it.
    assert cursor["x"] <= x <= cursor["x"] + cursor["width"]
    assert cursor["y"] <= y <= cursor["y"] + cursor["height"]
    invalid = await page.evaluate("() => window.mamoriCursor.invalid")
    assert invalid == 0


async def test_the_answer_gives_chromium_zero_playout_delay_and_the_right_level(
    browser: BrowserContext, broker: RunningBroker, agent: BrokerLink, doctor: Person
) -> None:
    """Chromium's offer includes playout-delay; the answer keeps it (min = max = 0 in every
    packet) and advertises level 3.2 for 1280x720 at 60 fps."""
    await browser.add_init_script(RECORD_PEERS)
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    sdp: str = await page.evaluate("() => window.__peers.at(-1).remoteDescription.sdp")
    assert "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay" in sdp
    assert re.search(r"profile-level-id=42[0-9a-f]{2}20", sdp)
    measured = await stats(page)
    assert measured["codec"] == "video/H264"


async def test_quality_is_said_in_words_and_a_stopped_picture_is_marked_frozen(
    browser: BrowserContext, broker: RunningBroker, agent: BrokerLink, doctor: Person
) -> None:
    """On a still screen the agent's keep-alives (every 0.5 s) keep the picture live: the
    toolbar says 良好 and nothing is marked. When frames stop reaching the page (here the
    <video> is paused, so no frame is presented) the picture is marked frozen after 1 s,
    and unmarked once frames come again."""
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => document.body.dataset.quality === 'good'", timeout=15_000)
    await asyncio.sleep(2.5)  # a still screen: keep-alives only
    assert await page.evaluate("() => document.body.dataset.frozen") == "false"
    assert await page.locator("#connection-quality").inner_text() == "良好"
    assert await page.locator("#frozen-marker").is_hidden()

    await page.evaluate("() => document.getElementById('remote-video').pause()")
    await page.wait_for_function("() => document.body.dataset.frozen === 'true'", timeout=5_000)
    marker = page.locator("#frozen-marker")
    assert await marker.is_visible()
    assert "画面が止まっています" in await marker.inner_text()
    assert await page.evaluate("() => window.mamoriQuality.level") == "unstable"

    await page.evaluate("() => document.getElementById('remote-video').play()")
    await page.wait_for_function("() => document.body.dataset.frozen === 'false'", timeout=5_000)
    assert await marker.is_hidden()
