"""Debian's Chromium under Playwright, configured the one way the tests and benches use it."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from playwright.async_api import BrowserContext, Page, async_playwright

from devkit.broker import RunningBroker
from devkit.browser import approve_this_browser, sign_in
from devkit.identity import Person
from devkit.netns import netns_wrapper

CHROMIUM = "/usr/bin/chromium"


def chromium_args(spki_sha256_b64: str) -> list[str]:
    """Flags from DESIGN.md, the test broker's key pinned, and media kept on loopback."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--ignore-certificate-errors-spki-list={spki_sha256_b64}",
        # Media stays on 127.0.0.1 in tests (see the loopback_ice fixture).
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]


@contextlib.asynccontextmanager
async def chromium(
    profile: Path,
    spki_sha256_b64: str,
    netns: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile that trusts only the given server key;
    inside network namespace ``netns`` when one is given (the network tier's home).
    ``extra_args``: more flags (the network tier maps the broker's name with
    ``--host-resolver-rules``)."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: deploy/setup.sh installs Debian's chromium")
    executable = CHROMIUM
    if netns is not None:
        profile.mkdir(parents=True, exist_ok=True)
        executable = str(netns_wrapper(netns, CHROMIUM, profile.parent))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=[*chromium_args(spki_sha256_b64), *extra_args],
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await context.close()


async def open_viewer(
    context: BrowserContext, broker: RunningBroker, person: Person, host_id: str
) -> Page:
    """Sign in through the pages (password and TOTP), register this browser as a viewing
    device and have an admin approve it, open the host, wait for picture and input channel."""
    page = await context.new_page()
    await sign_in(page, broker, person)
    await approve_this_browser(page, broker, person)
    await page.wait_for_function("() => document.body?.dataset.hostsState === 'ready'")
    await page.click(f'#host-list li.host-item[data-host-id="{host_id}"] a.host-link')
    # The click navigates to viewer.html: the predicate may first run on a document whose body
    # is not parsed yet (a throwing predicate fails the wait at once), hence ``body?.``.
    await page.wait_for_function(
        "() => document.body?.dataset.connection === 'connected'"
        " && document.body.dataset.video === 'playing'"
        " && document.body.dataset.input === 'open'",
        timeout=20_000,
    )
    return page


# What the viewer shows, the current video frame with the tile overlay over it, drawn into a
# canvas: its size and the RGB bytes of a rectangle in host pixels, as base64. A list of
# numbers instead (2 million for 640x360) took Playwright seconds to decode on the test's
# event loop, which the in-process agent and broker share: the agent sent nothing meanwhile
# and the viewer took the path for dead.
_SAMPLE_VIDEO = """([x, y, w, h]) => {
  const video = document.getElementById('remote-video');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0);
  // What the person sees: the lossless tiles (app/tile_overlay.js) over the video.
  const tiles = document.getElementById('remote-tiles');
  if (tiles && !tiles.hidden && tiles.width === canvas.width && tiles.height === canvas.height) {
    ctx.drawImage(tiles, 0, 0);
  }
  const data = ctx.getImageData(x, y, w, h).data;
  let text = '';
  for (let i = 0; i < data.length; i += 4) {
    text += String.fromCharCode(data[i], data[i + 1], data[i + 2]);
  }
  return {size: [video.videoWidth, video.videoHeight], rgb: btoa(text)};
}"""


async def video_rgb(page: Page, box: tuple[int, int, int, int]) -> tuple[list[int], np.ndarray]:
    """The video's size and the (h, w, 3) RGB pixels of ``box`` (x, y, w, h) in its frame."""
    result = await page.evaluate(_SAMPLE_VIDEO, list(box))
    rgb = np.frombuffer(base64.b64decode(result["rgb"]), dtype=np.uint8)
    return list(result["size"]), rgb.reshape(box[3], box[2], 3).astype(np.float64)
