"""The X11 capture's monitor choice on a real Xvfb with two RandR monitors: which area is
grabbed, where damage lands in it, and what a changed layout does to a choice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from devkit.display import XvfbDisplay, set_monitors, start_multi_monitor_xvfb
from host_agent.video.change_detection import Rect
from host_agent.video.sources import DisplayCapture
from mamori_protocol.monitors import ALL_MONITORS
from tests.support.monitors import LEFT, RIGHT, Painted

pytestmark = pytest.mark.display


@pytest.fixture
def xvfb() -> Iterator[XvfbDisplay]:
    with start_multi_monitor_xvfb([LEFT, RIGHT]) as display:
        yield display


def area(capture: DisplayCapture) -> tuple[int, int, int, int]:
    source = capture.open_source()
    try:
        g = source.geometry
        return g.left, g.top, g.width, g.height
    finally:
        source.close()


def test_primary_then_chosen_then_all(xvfb: XvfbDisplay) -> None:
    capture = DisplayCapture(xvfb.name)
    assert area(capture) == LEFT
    capture.select(1)
    assert area(capture) == RIGHT
    capture.select(ALL_MONITORS)
    assert area(capture) == (0, 0, 1440, 600)


def test_a_choice_follows_its_monitor_or_falls_back_to_the_primary(xvfb: XvfbDisplay) -> None:
    capture = DisplayCapture(xvfb.name)
    area(capture)
    capture.select(1)
    # The same two monitors, defined again in the other order: the choice keeps its place.
    set_monitors(xvfb.name, [RIGHT, LEFT])
    assert area(capture) == RIGHT
    assert capture.selected == 1
    # The chosen monitor gone (one monitor over the whole screen): the primary again.
    set_monitors(xvfb.name, [(0, 0, 1440, 600)])
    assert area(capture) == (0, 0, 1440, 600)
    assert capture.selected is None


async def test_damage_on_the_chosen_monitor_is_in_its_coordinates(xvfb: XvfbDisplay) -> None:
    painted = Painted(xvfb.name)
    capture = DisplayCapture(xvfb.name)
    area(capture)
    capture.select(1)
    source = capture.open_source()
    monitor = capture.open_monitor(source, asyncio.get_running_loop())
    changed = asyncio.Event()
    monitor.start(changed.set)
    try:
        monitor.take()
        changed.clear()
        painted.repaint("right", (0x10, 0x20, 0x30))
        async with asyncio.timeout(5):
            await changed.wait()
        assert monitor.take() == Rect(0, 0, 640, 480)  # root x 800.. is the monitor's 0..
    finally:
        monitor.close()
        source.close()
        painted.close()
