"""Scripted DXGI frames through the real screen track and the real x264, decoded again:
the Windows capture feeds the same change-driven pipeline as XDamage
(host_agent.platform.windows.backend). DXGI itself is the fake's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import av
import numpy as np
import pytest

from host_agent.platform.windows import win32
from host_agent.platform.windows.backend import DuplicationCursor, WindowsCapture, choose_output
from host_agent.platform.windows.win32 import Box, MoveRect, OutputInfo, PointerShape
from host_agent.video.encode_pipeline import Codec
from host_agent.video.screen_track import ScreenTrack
from tests.host_agent.windows.fakes import FakeDuplicationApi, FakeScreen, Frame, frame_info

pytestmark = pytest.mark.unit

OUTPUT = OutputInfo(0, 0, r"\\.\DISPLAY1", Box(0, 0, 320, 240), True, win32.ROTATION_IDENTITY)


@dataclass
class Received:
    pictures: list[np.ndarray] = field(default_factory=list)
    decoder: av.CodecContext = field(default_factory=lambda: av.CodecContext.create("h264", "r"))

    def add(self, packet: av.Packet) -> None:
        for frame in self.decoder.decode(packet):
            self.pictures.append(frame.to_ndarray(format="rgb24").astype(np.int16))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def rgb(bgra: np.ndarray) -> np.ndarray:
    return bgra[..., [2, 1, 0]].astype(np.int16)


@pytest.fixture
def screen() -> FakeScreen:
    """One 320x240 monitor showing soft stripes (easy on the encoder, not flat)."""
    fake = FakeScreen([OUTPUT])
    pixels = fake.pixels[OUTPUT.device_name]
    ys, xs = np.mgrid[0:240, 0:320]
    pixels[..., 0] = (xs * 255 // 319).astype(np.uint8)
    pixels[..., 1] = (ys * 255 // 239).astype(np.uint8)
    pixels[..., 2] = 128
    pixels[..., 3] = 255
    return fake


@pytest.fixture
async def streaming(
    screen: FakeScreen,
) -> AsyncIterator[tuple[ScreenTrack, FakeDuplicationApi, Received]]:
    """A live H.264 track over the fake duplication, read and decoded continuously."""
    api = FakeDuplicationApi(screen)
    api.timeout_sleep_s = 0.01
    api.script.append(Frame(frame_info()))
    track = ScreenTrack(None, Codec.H264, capture=WindowsCapture(api))
    received = Received()

    async def read() -> None:
        while True:
            received.add(await track.recv())

    task = asyncio.create_task(read())
    await until(lambda: track.stats.refinement_frames >= 1)  # the first picture, settled
    yield track, api, received
    track.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def settle(track: ScreenTrack, action: Callable[[], None]) -> None:
    """Do ``action``, then wait for the frame it causes and its refinement."""
    frames, refinements = track.stats.frames, track.stats.refinement_frames
    action()
    await until(lambda: track.stats.frames > frames)
    await until(lambda: track.stats.refinement_frames > refinements)
    await asyncio.sleep(0.05)


def changed_box(before: np.ndarray, after: np.ndarray, tolerance: int = 6) -> Box | None:
    """Where two decoded pictures differ by more than the codec's noise."""
    differs = (np.abs(after - before) > tolerance).any(axis=-1)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if not len(rows):
        return None
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def within(inner: Box, outer: Box) -> bool:
    return (
        inner.left >= outer.left
        and inner.top >= outer.top
        and inner.right <= outer.right
        and inner.bottom <= outer.bottom
    )


async def test_encoded_picture_changes_only_where_dxgi_said(
    streaming: tuple[ScreenTrack, FakeDuplicationApi, Received],
) -> None:
    """A dirty rectangle drawn: the decoded video changes inside its macroblocks (plus the
    deblocking filter's few pixels) and nowhere else, and then equals the screen."""
    track, api, received = streaming
    before = received.pictures[-1]
    pixels = api.screen.pixels[OUTPUT.device_name]
    box = Box(100, 60, 140, 90)

    def draw(p: np.ndarray) -> None:
        p[60:90, 100:140] = (0, 0, 255, 255)

    await settle(track, lambda: api.script.append(Frame(frame_info(), dirty=[box], paint=draw)))
    after = received.pictures[-1]
    changed = changed_box(before, after)
    assert changed is not None
    assert within(changed, Box(96 - 4, 48 - 4, 144 + 4, 96 + 4)), changed
    assert np.abs(after - rgb(pixels)).mean() < 3


async def test_timeouts_and_access_lost_send_nothing_new(
    streaming: tuple[ScreenTrack, FakeDuplicationApi, Received],
) -> None:
    """Timeouts are "nothing changed"; ACCESS_LOST recreates the duplication, whose whole
    first picture equals what was sent: the comparison finds no change, no frame but the
    keep-alive goes out, and no keyframe."""
    track, api, received = streaming
    keyframes, unchanged = track.stats.keyframes, track.stats.captures_unchanged
    await asyncio.sleep(0.3)  # timeouts
    api.script += [Frame(error=win32.DXGI_ERROR_ACCESS_LOST), Frame(frame_info())]
    await until(lambda: len(api.duplications) == 2)
    await until(lambda: track.stats.captures_unchanged > unchanged)
    await asyncio.sleep(0.4)
    assert track.stats.keyframes == keyframes
    assert api.duplications[0].closed
    assert api.reads[-1] == [Box(0, 0, 320, 240)]  # the new duplication's picture, whole
    assert np.abs(received.pictures[-1] - rgb(api.screen.pixels[OUTPUT.device_name])).mean() < 3


async def test_a_scroll_reaches_the_viewer_without_reading_it(
    streaming: tuple[ScreenTrack, FakeDuplicationApi, Received],
) -> None:
    """A move rect (content scrolled up 48 px) and the exposed strip: only the strip is read
    from the GPU, and the decoded video shows the scrolled screen."""
    track, api, received = streaming
    api.reads.clear()

    def scroll(p: np.ndarray) -> None:
        p[0:192] = p[48:240].copy()
        p[192:240] = (40, 200, 40, 255)

    frame = Frame(
        frame_info(),
        moves=[MoveRect(0, 48, Box(0, 0, 320, 192))],
        dirty=[Box(0, 192, 320, 240)],
        paint=scroll,
    )
    await settle(track, lambda: api.script.append(frame))
    assert api.reads == [[Box(0, 192, 320, 240)]]
    assert np.abs(received.pictures[-1] - rgb(api.screen.pixels[OUTPUT.device_name])).mean() < 3


async def test_pointer_messages_come_from_the_frames(screen: FakeScreen) -> None:
    """Pointer position and shape from DXGI frames become the viewer's cursor messages,
    sent from the event loop; a position that did not change is not sent again."""
    api = FakeDuplicationApi(screen)
    api.timeout_sleep_s = 0.01
    arrow = PointerShape(win32.POINTER_COLOR, 2, 2, 8, 0, 0, bytes(range(16)))
    api.script.append(Frame(frame_info()))
    backend = WindowsCapture(api)
    source = backend.open_source()
    sent: list[str] = []
    loop = asyncio.get_running_loop()
    cursor = backend.open_cursor(source, loop, sent.append)
    assert isinstance(cursor, DuplicationCursor)
    cursor.start()
    api.script += [
        Frame(frame_info(present=False, pointer=(10, 20, True), shape=16), shape=arrow),
        Frame(frame_info(present=False, pointer=(10, 20, True))),
        Frame(frame_info(present=False, pointer=(400, 20, True))),  # off this monitor
    ]
    try:
        await until(lambda: len(sent) >= 3)
        await asyncio.sleep(0.1)
    finally:
        cursor.close()
        source.close()
    assert sent[0].startswith('{"t":"shape","id":1,"w":2,"h":2,"hx":0,"hy":0,')
    assert sent[1:] == [
        '{"t":"cursor","x":10,"y":20,"v":true}',
        '{"t":"cursor","x":319,"y":20,"v":false}',
    ]


def test_the_primary_monitor_is_the_one_at_the_origin() -> None:
    """Without a choice, the monitor containing (0, 0) is captured; a detached one never."""
    left = OutputInfo(0, 0, "A", Box(-1920, 0, 0, 1080), True, 1)
    primary = OutputInfo(0, 1, "B", Box(0, 0, 2560, 1440), True, 1)
    detached = OutputInfo(1, 0, "C", Box(0, 0, 800, 600), False, 1)
    assert choose_output([detached, left, primary]) is primary
    assert choose_output([left, primary], "A") is left
    with pytest.raises(Exception, match="no monitor"):
        choose_output([detached])


async def test_a_cursor_started_later_gets_the_current_shape(screen: FakeScreen) -> None:
    """DXGI reports a shape only when it changes: a cursor channel opened afterwards still
    gets the current shape and position at once."""
    api = FakeDuplicationApi(screen)
    api.timeout_sleep_s = 0.01
    arrow = PointerShape(win32.POINTER_COLOR, 2, 2, 8, 1, 1, bytes(16))
    api.script += [
        Frame(frame_info(pointer=(5, 6, True), shape=16), shape=arrow),
    ]
    backend = WindowsCapture(api)
    source = backend.open_source()
    await until(lambda: not api.script)
    await asyncio.sleep(0.05)
    sent: list[str] = []
    cursor = backend.open_cursor(source, asyncio.get_running_loop(), sent.append)
    cursor.start()
    try:
        await until(lambda: len(sent) >= 2)
    finally:
        cursor.close()
        source.close()
    assert sent[0].startswith('{"t":"shape","id":1,"w":2,"h":2,"hx":1,"hy":1,')
    assert sent[1] == '{"t":"cursor","x":5,"y":6,"v":true}'
