"""The screen track on a real Xvfb (host_agent.video.screen_track): what it sends, and when.

The track is read the way aiortc's sender reads it (``await recv()`` in a loop), without a
peer: these tests are about the capture policy on a real display, not about transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from Xlib import X
from Xlib import display as xdisplay
from Xlib.protocol import request

from devkit.display import XvfbDisplay, start_xvfb
from host_agent.video import damage
from host_agent.video.encode_pipeline import Codec
from host_agent.video.screen_track import ScreenTrack

pytestmark = pytest.mark.display


@dataclass
class Received:
    frames: list[tuple[float, Any]] = field(default_factory=list)

    def since(self, t: float) -> list[Any]:
        return [p for at, p in self.frames if at >= t]


@pytest.fixture
def blank() -> Iterator[XvfbDisplay]:
    """An empty 640x360 display: nothing on it changes unless a test draws."""
    with start_xvfb(640, 360) as display:
        yield display


class Painter:
    """Draws rectangles on its own window covering the display."""

    def __init__(self, name: str) -> None:
        self.conn = xdisplay.Display(name)
        screen = self.conn.screen()
        self.window = screen.root.create_window(
            0, 0, 640, 360, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            background_pixel=screen.white_pixel, override_redirect=True,
        )  # fmt: skip
        self.window.map()
        self.gc = self.window.create_gc(foreground=screen.black_pixel)
        self.conn.sync()

    def fill(self, x: int, y: int, w: int, h: int) -> None:
        self.window.fill_rectangle(self.gc, x, y, w, h)
        self.conn.sync()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
async def track(blank: XvfbDisplay) -> AsyncIterator[tuple[ScreenTrack, Received]]:
    """A live H.264 track on the blank display, read continuously."""
    screen = ScreenTrack(blank.name, Codec.H264)
    received = Received()

    async def read() -> None:
        while True:
            packet = await screen.recv()
            received.frames.append((time.monotonic(), packet))

    task = asyncio.create_task(read())
    yield screen, received
    screen.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_a_static_screen_sends_only_keepalives(
    track: tuple[ScreenTrack, Received],
) -> None:
    """After the first keyframe (and its refinement), an unchanging screen gets at most one
    small frame every half second and no further keyframe."""
    screen, received = track
    await until(lambda: screen.stats.frames >= 1)
    await asyncio.sleep(1.0)  # the first picture is refined 300 ms after it
    start = time.monotonic()
    await asyncio.sleep(3.0)
    later = received.since(start)
    assert 5 <= len(later) <= 7, f"{len(later)} frames in 3 s of a static screen"
    assert all(p.size < 100 for p in later)
    assert screen.stats.keyframes == 1
    assert screen.stats.keepalives >= 5


async def test_drawing_is_sent_at_once_then_refined_once(
    track: tuple[ScreenTrack, Received], blank: XvfbDisplay
) -> None:
    """A change goes out within a few frame times of being drawn; 300 ms after it settles
    exactly one refinement frame follows; then the screen is quiet again."""
    screen, received = track
    await until(lambda: screen.stats.frames >= 1)
    await asyncio.sleep(1.2)
    painter = Painter(blank.name)
    try:
        refinements = screen.stats.refinement_frames
        frames = screen.stats.frames
        drawn = time.monotonic()
        painter.fill(100, 100, 60, 20)
        await until(lambda: screen.stats.frames > frames, timeout=1.0)
        # Sent as a change, not held back to settle (1 s, not a timing target: a loaded
        # machine may be slow, but the settle delay is 300 ms and the refinement comes after).
        assert time.monotonic() - drawn < 1.0
        await until(lambda: screen.stats.refinement_frames > refinements, timeout=3.0)
        assert screen.stats.refinement_frames == refinements + 1
        refined_at = time.monotonic()
        await asyncio.sleep(0.5)
        assert screen.stats.refinement_frames == refinements + 1
        assert len(received.since(refined_at)) <= 1  # at most a keep-alive
    finally:
        painter.close()


async def test_a_keyframe_request_is_answered_with_an_idr(
    track: tuple[ScreenTrack, Received],
) -> None:
    """request_keyframe (PLI/FIR) makes the very next frame an IDR, on a static screen too."""
    screen, received = track
    await until(lambda: screen.stats.frames >= 1)
    await asyncio.sleep(0.5)
    start = time.monotonic()
    screen.request_keyframe()
    await until(lambda: screen.stats.keyframes == 2, timeout=1.0)
    assert received.since(start)[0].is_keyframe


async def test_a_bitrate_drop_changes_the_budget_not_the_encoder(
    track: tuple[ScreenTrack, Received], blank: XvfbDisplay
) -> None:
    """REMB falling lowers the target at once; frames go on from the same encoder, with no
    keyframe (a rebuild would be one)."""
    screen, _ = track
    await until(lambda: screen.stats.frames >= 1)
    screen.set_estimated_bitrate(6_000_000)
    screen.set_estimated_bitrate(1_000_000)
    assert screen.stats.target_bitrate == 1_000_000
    painter = Painter(blank.name)
    try:
        for i in range(10):
            painter.fill(10 * i, 10, 8, 8)
            await asyncio.sleep(0.05)
    finally:
        painter.close()
    await asyncio.sleep(0.2)
    assert screen.stats.encoder_builds == 1
    assert screen.stats.keyframes == 1
    assert screen.stats.frames >= 5


async def test_without_xdamage_pixels_are_polled_and_a_static_screen_stays_quiet(
    blank: XvfbDisplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The polling fallback compares pixels at every slot: unchanged captures send nothing,
    a change is still sent."""
    monkeypatch.setattr(damage, "DamageMonitor", _no_damage)
    screen = ScreenTrack(blank.name, Codec.H264)
    task = asyncio.create_task(_drain(screen))
    try:
        await until(lambda: screen.stats.frames >= 1)
        await asyncio.sleep(1.5)
        assert screen.stats.captures_unchanged > 10
        frames = screen.stats.frames
        painter = Painter(blank.name)
        try:
            painter.fill(200, 200, 30, 30)
            await until(lambda: screen.stats.frames > frames, timeout=1.0)
        finally:
            painter.close()
    finally:
        screen.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _no_damage(*args: object) -> None:
    raise RuntimeError("pretend the X server has no DAMAGE extension")


async def _drain(screen: ScreenTrack) -> None:
    while True:
        await screen.recv()


async def test_a_change_monitor_whose_x_connection_is_closed_falls_back_to_polling(
    track: tuple[ScreenTrack, Received], blank: XvfbDisplay
) -> None:
    """The X server closing the damage connection (seen in the lossy-link runs a second
    into a session) used to raise into the sender's loop and end the stream for good; now
    the track polls, and a change drawn after it is still sent."""
    screen, received = track
    await until(lambda: screen.stats.frames >= 1)
    monitor = screen._monitor
    assert isinstance(monitor, damage.DamageMonitor)
    killer = xdisplay.Display(blank.name)
    try:
        # XKillClient on a resource: the server closes the connection that created it.
        request.KillClient(display=killer.display, resource=monitor._damage)
        killer.sync()
    finally:
        killer.close()
    painter = Painter(blank.name)
    try:
        await until(lambda: monitor.polling, timeout=5.0)
        before = len(received.frames)
        painter.fill(100, 100, 40, 40)
        await until(lambda: len(received.frames) > before, timeout=2.0)
        frames = len(received.frames)
        painter.fill(300, 200, 40, 40)
        await until(lambda: len(received.frames) > frames, timeout=2.0)
    finally:
        painter.close()
