"""Nothing but pixels leaves: a secret on the host's clipboards and in a file never reaches
the browser, whatever copy gestures the viewer makes."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, WebSocket

from devkit.broker import RunningBroker
from devkit.chromium import chromium, open_viewer
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID

pytestmark = [pytest.mark.e2e, pytest.mark.display]

# Records every message the page receives on any data channel, before the app sees it.
RECORD_CHANNELS = """
window.__mamoriReceived = [];
window.__mamoriChannels = [];
const record = (channel) => {
  window.__mamoriChannels.push(channel.label);
  channel.addEventListener('message', (event) => {
    window.__mamoriReceived.push(typeof event.data === 'string'
      ? event.data : '[binary ' + (event.data.byteLength ?? event.data.size) + ']');
  });
};
const create = RTCPeerConnection.prototype.createDataChannel;
RTCPeerConnection.prototype.createDataChannel = function (...args) {
  const channel = create.apply(this, args);
  record(channel);
  return channel;
};
"""


@pytest.fixture
def secret() -> str:
    return f"患者秘密-{secrets.token_hex(8)}"


@pytest.fixture
def host_secret(xvfb: XvfbDisplay, tmp_path: Path, secret: str) -> Path:
    """The secret on the host's PRIMARY and CLIPBOARD selections and in a file."""
    (tmp_path / "カルテ.txt").write_text(f"診断: {secret}\n", encoding="utf-8")
    for selection in ("primary", "clipboard"):
        # xclip forks a process that serves the selection until it is replaced, or until
        # this test's Xvfb (and so its connection) goes away.
        subprocess.run(
            ["xclip", "-selection", selection, "-i"],
            input=secret.encode(),
            env=xvfb.env(),
            check=True,
            timeout=10,
        )
    for selection in ("primary", "clipboard"):
        # The forked server takes ownership a moment after xclip returns: read until it has.
        held = ""
        deadline = time.monotonic() + 5
        while held != secret and time.monotonic() < deadline:
            held = subprocess.run(
                ["xclip", "-selection", selection, "-o"],
                env=xvfb.env(),
                capture_output=True,
                check=False,
                timeout=10,
            ).stdout.decode()
            if held != secret:
                time.sleep(0.05)
        assert held == secret, f"the {selection} selection was not set"
    return tmp_path / "カルテ.txt"


@pytest.fixture
async def browser(tmp_path: Path, broker: RunningBroker) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "profile", broker.certs.spki_sha256_b64) as context:
        await context.add_init_script(RECORD_CHANNELS)
        yield context


async def test_clipboard_and_file_secret_never_reach_the_browser(
    browser: BrowserContext,
    broker: RunningBroker,
    agent: BrokerLink,
    sample_app: SampleApp,
    host_secret: Path,
    secret: str,
    doctor: Person,
) -> None:
    """Copy shortcuts and a drag selection in a live session bring the secret nowhere:
    not in signaling, data channel messages, the DOM, or the browser's clipboard."""
    frames: list[str] = []

    def on_websocket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    browser.on("page", lambda p: p.on("websocket", on_websocket))
    page = await open_viewer(browser, broker, doctor, HOST_ID)

    box = await page.locator("#remote-video").bounding_box()
    assert box is not None
    scale = min(box["width"] / 1280, box["height"] / 720)
    x, y, _, _ = sample_app.state()["geometry"]["notes"]

    def at(px: int, py: int) -> tuple[float, float]:
        return box["x"] + px * scale, box["y"] + py * scale

    # Type something, select it by dragging, then every copy gesture a viewer could try.
    await page.mouse.click(*at(x + 40, y + 20))
    await page.keyboard.type("copy me", delay=20)
    await page.mouse.move(*at(x + 10, y + 20))
    await page.mouse.down()
    await page.mouse.move(*at(x + 200, y + 20), steps=8)
    await page.mouse.up()
    for shortcut in ("Control+KeyC", "Control+Insert", "Control+Shift+KeyC", "Control+KeyX"):
        await page.keyboard.press(shortcut)
        await asyncio.sleep(0.2)
    # Drag from inside the picture to outside it, as if dropping content onto the page.
    await page.mouse.move(*at(x + 20, y + 20))
    await page.mouse.down()
    await page.mouse.move(5, 5, steps=8)
    await page.mouse.up()
    await asyncio.sleep(1.0)

    received = await page.evaluate("() => window.__mamoriReceived")
    channels = await page.evaluate("() => window.__mamoriChannels")
    dom = await page.content()
    # The instrumentation saw the session: the input channel and the signaling answer.
    assert channels == ["input"]
    assert any('"type":"answer"' in frame for frame in frames)
    for where, content in (
        ("signaling", "\n".join(frames)),
        ("data channel", "\n".join(received)),
        ("DOM", dom),
    ):
        assert secret not in content, f"the secret reached the browser through {where}"

    # The browser's own clipboard, read from a secure page allowed to read it (served by
    # Playwright itself: the broker's pages forbid clipboard access outright).
    reader_origin = "https://clipboard-reader.test"
    await browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=reader_origin)
    reader = await browser.new_page()
    await reader.route(
        f"{reader_origin}/**",
        lambda route: route.fulfill(
            body="<!doctype html><title>r</title>", content_type="text/html"
        ),
    )
    await reader.goto(f"{reader_origin}/")
    await reader.bring_to_front()
    clipboard = await reader.evaluate(
        "async () => { try { return await navigator.clipboard.readText(); }"
        " catch (e) { return 'unreadable: ' + e.name; } }"
    )
    print(f"browser clipboard after the session: {clipboard!r}")
    assert not clipboard.startswith("unreadable"), clipboard
    assert secret not in clipboard
