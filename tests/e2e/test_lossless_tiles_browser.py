"""Lossless tiles in real headless Chromium: a settled screen of coloured text and a
grayscale image ends bit-exact in the viewer (video + tile overlay, watermark off), and a
region that changes loses its tile at once (the video shows it) before ending exact again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import mss
import numpy as np
import pytest
from playwright.async_api import Page

from devkit.agent import running_agent
from devkit.broker import RunningBroker
from devkit.chromium import open_viewer, video_rgb
from devkit.display import XvfbDisplay
from devkit.identity import Person
from devkit.settled_screen import ShownPicture, gradient_picture, radiograph_picture, text_picture
from host_agent.link.broker_link import BrokerLink
from host_agent.trust.credentials import AgentState
from tests.conftest import HOST_ID

pytestmark = [pytest.mark.e2e, pytest.mark.display]

W, H = 1280, 720
# The changed region: two blocks of text in the middle of the text half.
CHANGED = (384, 128, 256, 128)
NO_WATERMARK = pytest.mark.parametrize("broker", [{"watermark": False}], indirect=True)


def screen_picture() -> np.ndarray:
    """Coloured text above, a radiograph-like image and a gradient below."""
    picture = np.empty((H, W, 3), dtype=np.uint8)
    picture[:400] = text_picture(W, 400, seed=1)
    picture[400:, :800] = radiograph_picture(800, H - 400, seed=2)
    picture[400:, 800:] = gradient_picture(W - 800, H - 400)
    return picture


@pytest.fixture
def shown(xvfb: XvfbDisplay) -> Iterator[ShownPicture]:
    picture = ShownPicture(xvfb.name, 0, 0, screen_picture())
    try:
        yield picture
    finally:
        picture.close()


@pytest.fixture
async def tiles_agent(
    broker: RunningBroker, agent_state: AgentState, shown: ShownPicture, xvfb: XvfbDisplay,
    loopback_ice: None,
) -> AsyncIterator[BrokerLink]:  # fmt: skip
    async with running_agent(broker, agent_state, xvfb.name, HOST_ID, "診察室1") as link:
        yield link


def ours(display: XvfbDisplay, expected: np.ndarray) -> np.ndarray:
    """The 128-px blocks where the screen shows the test's picture: not those with the
    agent's own banner and indicator (drawn on the host while a session runs, some of it
    changing every second: such a block is sent and invalidated again and again)."""
    with mss.MSS(display=display.name) as grabber:
        shot = grabber.grab({"left": 0, "top": 0, "width": W, "height": H})
    screen = np.frombuffer(shot.rgb, dtype=np.uint8).reshape(H, W, 3)
    same = (screen == expected).all(axis=2)
    mask = np.zeros_like(same)
    for y in range(0, H, 128):
        for x in range(0, W, 128):
            mask[y : y + 128, x : x + 128] = same[y : y + 128, x : x + 128].all()
    assert mask.mean() > 0.8, f"only {mask.mean():.1%} of the screen shows the picture"
    return mask


async def wait_exact(
    page: Page, display: XvfbDisplay, expected: np.ndarray, within_s: float,
    since: float | None = None,
) -> tuple[float, float]:  # fmt: skip
    """Poll the viewer's pixels (video + overlay) until they equal ``expected`` wherever
    the screen shows it, at most ``within_s`` after ``since`` (default: now); return
    (seconds since ``since``, exact share at the end)."""
    start = time.monotonic() if since is None else since
    share = 0.0
    while time.monotonic() - start < within_s:
        mask = ours(display, expected)
        size, rgb = await video_rgb(page, (0, 0, W, H))
        assert size == [W, H]
        share = float((rgb == expected).all(axis=2)[mask].mean())
        if share == 1.0:
            return time.monotonic() - start, share
        await asyncio.sleep(0.05)
    return time.monotonic() - start, share


async def tiles_info(page: Page) -> dict[str, int]:
    info: dict[str, int] = await page.evaluate("() => ({...window.mamoriTiles})")
    return info


# The overlay's alpha over a rectangle: 0 everywhere means no tile covers it.
_OVERLAY_ALPHA = """([x, y, w, h]) => {
  const c = document.getElementById('remote-tiles');
  const data = c.getContext('2d').getImageData(x, y, w, h).data;
  let most = 0;
  for (let i = 3; i < data.length; i += 4) most = Math.max(most, data[i]);
  return most;
}"""


@NO_WATERMARK
async def test_a_settled_screen_ends_bit_exact_and_a_change_drops_its_tiles(
    browser: object, broker: RunningBroker, tiles_agent: BrokerLink, shown: ShownPicture,
    xvfb: XvfbDisplay, doctor: Person,
) -> None:  # fmt: skip
    page = await open_viewer(browser, broker, doctor, HOST_ID)  # type: ignore[arg-type]
    expected = screen_picture()

    # The whole screen: exact once its tiles are drawn over the video.
    taken, share = await wait_exact(page, xvfb, expected, within_s=5.0)
    print(f"exact {taken:.2f} s after the picture played")
    assert share == 1.0, f"only {share:.1%} of the pixels exact after {taken:.1f} s"
    info = await tiles_info(page)
    assert info["failed"] is False
    assert info["rejected"] == 0
    assert info["drawn"] >= 50  # the 128-px blocks of 1280x720 but the banner's
    # The viewer told the agent its overlay draws: the video stops refining under the tiles.
    session = tiles_agent.session
    assert session is not None
    assert session.track is not None
    deadline = time.monotonic() + 2.0
    while not session.track.tile_overlay_works:
        assert time.monotonic() < deadline, "the agent never heard that the overlay works"
        await asyncio.sleep(0.02)

    # Without the overlay the video alone is not exact (this is what the tiles add).
    video_only = await page.evaluate(
        """() => { const c = document.getElementById('remote-tiles'); c.hidden = true; }"""
    )
    assert video_only is None
    _, rgb = await video_rgb(page, (0, 0, W, 400))
    assert float((rgb == expected[:400]).all(axis=2).mean()) < 0.99
    await page.evaluate("() => { document.getElementById('remote-tiles').hidden = false; }")

    # A region changes: its tiles are invalidated before new ones come (they wait for the
    # region to settle), so at that moment no tile covers it and the video shows the change.
    before = await tiles_info(page)
    x, y, w, h = CHANGED
    new = text_picture(w, h, seed=9)
    shown.show(new, at=(x, y))
    changed_at = time.monotonic()
    deadline = time.monotonic() + 2.0
    while (info := await tiles_info(page))["invalidations"] == before["invalidations"]:
        assert time.monotonic() < deadline, "no invalidation reached the viewer"
        await asyncio.sleep(0.01)
    alpha = await page.evaluate(_OVERLAY_ALPHA, list(CHANGED))
    assert info["drawn"] == before["drawn"], "new tiles came before the check: too slow a poll"
    assert alpha == 0, "the old tile still covers the changed region"
    # The viewer's pixels there are the video's: the new text, approximately.
    deadline = time.monotonic() + 2.0
    while True:
        _, rgb = await video_rgb(page, CHANGED)
        difference = float(np.abs(rgb - new.astype(np.float64)).mean())
        if difference < 8 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert difference < 8, f"the changed region differs from the new text by {difference:.1f}"

    # And it settles exact again, within about a second of the change (2 s: sampling the
    # whole frame takes ~0.1-0.2 s on a loaded machine), the rest of the screen untouched.
    expected[y : y + h, x : x + w] = new
    taken, share = await wait_exact(page, xvfb, expected, within_s=2.0, since=changed_at)
    print(f"exact again {taken:.2f} s after the change")
    assert share == 1.0, f"only {share:.1%} exact {taken:.1f} s after the change"
