"""The monitor switcher in real headless Chromium: two monitors of different sizes on the
host; the viewer lists them in Japanese, switches, shows each monitor's picture, and a click
on the picture lands on the chosen monitor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from playwright.async_api import BrowserContext, Page

from devkit.agent import running_agent
from devkit.broker import RunningBroker
from devkit.chromium import open_viewer, video_rgb
from devkit.display import XvfbDisplay, start_multi_monitor_xvfb
from devkit.identity import Person
from host_agent.link.broker_link import BrokerLink
from host_agent.trust.credentials import AgentState
from tests.conftest import HOST_ID
from tests.support.monitors import LEFT, LEFT_RGB, RIGHT, RIGHT_RGB, Painted

pytestmark = [pytest.mark.e2e, pytest.mark.display]


@pytest.fixture
def xvfb() -> Iterator[XvfbDisplay]:
    with start_multi_monitor_xvfb([LEFT, RIGHT]) as display:
        yield display


@pytest.fixture
async def painted_agent(
    broker: RunningBroker, agent_state: AgentState, xvfb: XvfbDisplay, loopback_ice: None
) -> AsyncIterator[tuple[BrokerLink, Painted]]:
    painted = Painted(xvfb.name)
    try:
        async with running_agent(broker, agent_state, xvfb.name, HOST_ID, "受付") as link:
            yield link, painted
    finally:
        painted.close()


async def video_size(page: Page, width: int, height: int) -> None:
    await page.wait_for_function(
        f"() => {{ const v = document.getElementById('remote-video');"
        f" return v.videoWidth === {width} && v.videoHeight === {height}; }}",
        timeout=15_000,
    )


async def colour(page: Page, box: tuple[int, int, int, int]) -> np.ndarray:
    _, rgb = await video_rgb(page, box)
    return np.median(rgb.reshape(-1, 3), axis=0)


async def click_host(page: Page, x: int, y: int, width: int, height: int) -> None:
    """Click host pixel (x, y) of a width x height picture (object-fit: contain)."""
    box = await page.locator("#remote-video").bounding_box()
    assert box is not None
    scale = min(box["width"] / width, box["height"] / height)
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    await page.mouse.click(left + (x + 0.5) * scale, top + (y + 0.5) * scale)


async def test_the_viewer_switches_monitors_and_clicks_land_there(
    browser: BrowserContext,
    broker: RunningBroker,
    painted_agent: tuple[BrokerLink, Painted],
    doctor: Person,
) -> None:
    _, painted = painted_agent
    page = await open_viewer(browser, broker, doctor, HOST_ID)
    await page.wait_for_function("() => !document.getElementById('monitor-box').hidden")
    options: list[Any] = await page.eval_on_selector_all(
        "#monitor-select option", "(os) => os.map((o) => [o.value, o.textContent])"
    )
    assert options == [
        ["0", "モニター 1（800×600・メイン）"],
        ["1", "モニター 2（640×480）"],
        ["-1", "すべて（1 つの画面として）"],
    ]
    await video_size(page, 800, 600)
    assert np.abs(await colour(page, (300, 200, 200, 200)) - LEFT_RGB).max() < 16

    await page.select_option("#monitor-select", "1")
    await video_size(page, 640, 480)
    await page.wait_for_function("() => document.body.dataset.monitor === '1'")
    assert np.abs(await colour(page, (200, 150, 200, 150)) - RIGHT_RGB).max() < 16
    await click_host(page, 100, 50, 640, 480)
    for _ in range(100):
        painted.drain()
        if painted.presses:
            break
        await page.wait_for_timeout(50)
    assert painted.presses[-1] == ("right", 100, 50, 900, 50)

    await page.select_option("#monitor-select", "-1")
    await video_size(page, 1440, 600)
    assert np.abs(await colour(page, (1000, 150, 200, 150)) - RIGHT_RGB).max() < 16
    assert np.abs(await colour(page, (300, 200, 200, 200)) - LEFT_RGB).max() < 16
