"""All monitors as one desktop on Windows: one scripted duplication per output, composed
(host_agent.platform.windows.composition) and sent through the real screen track and x264,
decoded again; and where a click on the union lands (SendInput's structures, field by
field). DXGI and SendInput are the fakes': what Windows does with them is on the README's
list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from host_agent.input.events import PointerButton
from host_agent.platform.windows import win32
from host_agent.platform.windows.backend import DuplicationCursor, DuplicationSource, WindowsCapture
from host_agent.platform.windows.composition import ComposedDuplication
from host_agent.platform.windows.duplication import GONE_AFTER_S, DuplicationCapture, Mode
from host_agent.platform.windows.errors import OutputGone
from host_agent.platform.windows.injector import WindowsInjector
from host_agent.platform.windows.win32 import Box, MoveRect, OutputInfo
from host_agent.video.change_detection import Rect
from host_agent.video.encode_pipeline import Codec
from host_agent.video.screen_track import ScreenTrack
from mamori_protocol.monitors import ALL_MONITORS, Monitor, bounding_box
from tests.host_agent.windows.fakes import (
    FakeDuplicationApi,
    FakeInputApi,
    FakeScreen,
    Frame,
    decode,
    frame_info,
)
from tests.host_agent.windows.test_capture_pipeline import (
    Received,
    changed_box,
    rgb,
    settle,
    until,
    within,
)

pytestmark = pytest.mark.unit

# Physical pixels (Per-Monitor-V2): a primary at 0,0 and a smaller monitor of another
# scale factor to its left and lower down, as DXGI lists them (primary first). Small, so
# that x264 is quick; the union is 480x240 with black above and below the left monitor.
A = OutputInfo(0, 0, r"\\.\DISPLAY1", Box(0, 0, 320, 240), True, win32.ROTATION_IDENTITY)
B = OutputInfo(0, 1, r"\\.\DISPLAY2", Box(-160, 64, 0, 192), True, win32.ROTATION_IDENTITY)
# Where each monitor's picture starts in the union (left -160, top 0).
A_AT = (160, 0)
B_AT = (0, 64)
UNION = Box(0, 0, 480, 240)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stripes(pixels: np.ndarray, blue: int) -> None:
    h, w = pixels.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    pixels[..., 0] = blue
    pixels[..., 1] = (ys * 255 // (h - 1)).astype(np.uint8)
    pixels[..., 2] = (xs * 255 // (w - 1)).astype(np.uint8)
    pixels[..., 3] = 255


def expected(screen: FakeScreen, without: tuple[str, ...] = ()) -> np.ndarray:
    """The union as the viewer should see it: each monitor at its place, black elsewhere."""
    out = np.zeros((UNION.height, UNION.width, 4), np.uint8)
    for output, (x, y) in ((A, A_AT), (B, B_AT)):
        if output.device_name in without:
            continue
        p = screen.pixels[output.device_name]
        out[y : y + p.shape[0], x : x + p.shape[1]] = p
    return rgb(out)


@pytest.fixture
def screen() -> FakeScreen:
    fake = FakeScreen([A, B])
    stripes(fake.pixels[A.device_name], 60)
    stripes(fake.pixels[B.device_name], 200)
    return fake


@pytest.fixture
def api(screen: FakeScreen) -> FakeDuplicationApi:
    api = FakeDuplicationApi(screen)
    api.timeout_sleep_s = 0.005
    api.scripts = {A.device_name: [Frame(frame_info())], B.device_name: [Frame(frame_info())]}
    return api


@pytest.fixture
async def streaming(
    api: FakeDuplicationApi,
) -> AsyncIterator[tuple[ScreenTrack, WindowsCapture, Received, Clock]]:
    """A live H.264 track, switched to all monitors the way a viewer's choice does it."""
    clock = Clock()
    capture = WindowsCapture(api, clock=clock)
    track = ScreenTrack(None, Codec.H264, capture=capture)
    received = Received()

    async def read() -> None:
        while True:
            received.add(await track.recv())

    task = asyncio.create_task(read())
    await until(lambda: track.stats.refinement_frames >= 1)
    capture.select(ALL_MONITORS)
    # B's first frame is still in its script; A's is given once the old pipeline (whose
    # duplication of A would take it) is closed: DXGI gives every new duplication one.
    geometry = await track.reopen()
    assert (geometry.left, geometry.top, geometry.width, geometry.height) == (-160, 0, 480, 240)
    refinements = track.stats.refinement_frames
    api.scripts[A.device_name].append(Frame(frame_info()))
    await until(lambda: not api.scripts[A.device_name])
    await until(lambda: track.stats.refinement_frames > refinements)
    await until(lambda: bool(received.pictures) and received.pictures[-1].shape[1] == 480)
    await asyncio.sleep(0.1)
    yield track, capture, received, clock
    track.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_every_monitor_is_at_its_place_and_the_gaps_are_black(
    streaming: tuple[ScreenTrack, WindowsCapture, Received, Clock], screen: FakeScreen
) -> None:
    _track, capture, received, _ = streaming
    assert capture.selected == ALL_MONITORS
    assert capture.monitors == [
        Monitor(0, -160, 64, 160, 128, primary=False),
        Monitor(1, 0, 0, 320, 240, primary=True),
    ]
    picture = received.pictures[-1]
    assert picture.shape[:2] == (240, 480)
    assert np.abs(picture - expected(screen)).mean() < 3
    # Each monitor where it belongs, the gaps above and below the left one black.
    assert np.abs(picture[:, 160:] - rgb(screen.pixels[A.device_name])).mean() < 3
    assert np.abs(picture[64:192, :160] - rgb(screen.pixels[B.device_name])).mean() < 3
    assert picture[:60, :156].max() < 12
    assert picture[196:, :156].max() < 12


async def test_the_picture_changes_only_where_one_monitor_changed(
    streaming: tuple[ScreenTrack, WindowsCapture, Received, Clock],
    api: FakeDuplicationApi,
    screen: FakeScreen,
) -> None:
    """A dirty rect on the left monitor, then a scroll (move rect and the exposed strip) on
    the primary: the decoded union changes only inside each, offset into the union, and
    only the dirty rectangles are read from that monitor's GPU image."""
    track, _, received, _ = streaming
    before = received.pictures[-1]

    def draw(p: np.ndarray) -> None:
        p[20:50, 40:80] = (0, 0, 255, 255)

    frame = Frame(frame_info(), dirty=[Box(40, 20, 80, 50)], paint=draw)
    await settle(track, lambda: api.scripts[B.device_name].append(frame))
    after = received.pictures[-1]
    changed = changed_box(before, after)
    assert changed is not None
    # Local (40, 20)-(80, 50) at B_AT (0, 64): (40, 84)-(80, 114), grown to macroblocks.
    assert within(changed, Box(32 - 4, 80 - 4, 80 + 4, 128 + 4)), changed
    assert np.abs(after - expected(screen)).mean() < 3
    assert api.reads_of[B.device_name][-1] == [Box(40, 20, 80, 50)]

    reads_a = len(api.reads_of[A.device_name])
    before = after

    def scroll(p: np.ndarray) -> None:
        p[0:192] = p[48:240].copy()
        p[192:240] = (40, 200, 40, 255)

    frame = Frame(
        frame_info(),
        moves=[MoveRect(0, 48, Box(0, 0, 320, 192))],
        dirty=[Box(0, 192, 320, 240)],
        paint=scroll,
    )
    await settle(track, lambda: api.scripts[A.device_name].append(frame))
    after = received.pictures[-1]
    changed = changed_box(before, after)
    assert changed is not None
    assert within(changed, Box(160 - 4, 0, 480, 240)), changed  # nothing left of A
    assert api.reads_of[A.device_name][reads_a:] == [[Box(0, 192, 320, 240)]]
    assert np.abs(after - expected(screen)).mean() < 3


async def test_access_lost_on_one_monitor_recreates_only_its_duplication(
    streaming: tuple[ScreenTrack, WindowsCapture, Received, Clock],
    api: FakeDuplicationApi,
    screen: FakeScreen,
) -> None:
    track, _, received, clock = streaming
    keyframes = track.stats.keyframes
    mine = [d for d in api.duplications if not d.closed]
    assert sorted(d.output.device_name for d in mine) == [A.device_name, B.device_name]
    reads_b = api.reads_of[B.device_name]
    count = len(reads_b)
    api.scripts[B.device_name] += [Frame(error=win32.DXGI_ERROR_ACCESS_LOST), Frame(frame_info())]
    await until(lambda: len(api.scripts[B.device_name]) == 1)  # lost: retried shortly
    clock.now += 1
    await until(lambda: len(reads_b) > count)
    assert reads_b[count:] == [[Box(0, 0, 160, 128)]]  # the new duplication's, whole
    await asyncio.sleep(0.3)
    (kept_a,) = [d for d in mine if d.output is A]
    (old_b,) = [d for d in mine if d.output is B]
    assert not kept_a.closed
    assert old_b.closed
    live = [d for d in api.duplications if not d.closed]
    assert kept_a in live
    assert len(live) == 2
    assert track.stats.keyframes == keyframes  # the same picture again: nothing to send
    assert np.abs(received.pictures[-1] - expected(screen)).mean() < 3


async def test_a_monitor_unplugged_for_good_turns_black_and_the_other_goes_on(
    streaming: tuple[ScreenTrack, WindowsCapture, Received, Clock],
    api: FakeDuplicationApi,
    screen: FakeScreen,
) -> None:
    """Unplugged: the left monitor's picture freezes while it is looked for, then (after
    GONE_AFTER_S) its area is black; the primary is still shown live; the session goes on."""
    track, _, received, clock = streaming
    api.unplugged.add(B.device_name)
    api.scripts[B.device_name].append(Frame(error=win32.DXGI_ERROR_ACCESS_LOST))
    await until(lambda: not api.scripts[B.device_name])
    await asyncio.sleep(0.2)
    assert np.abs(received.pictures[-1] - expected(screen)).mean() < 3  # frozen, not black
    clock.now += 1  # the capture looks for it again: missing since now
    await asyncio.sleep(0.2)
    assert np.abs(received.pictures[-1] - expected(screen)).mean() < 3
    frames = track.stats.frames
    clock.now += GONE_AFTER_S
    await until(lambda: track.stats.frames > frames)
    await asyncio.sleep(0.3)
    gone = expected(screen, without=(B.device_name,))
    assert np.abs(received.pictures[-1] - gone).mean() < 3
    assert received.pictures[-1][64:192, :156].max() < 12

    def draw(p: np.ndarray) -> None:
        p[100:140, 100:180] = (255, 255, 255, 255)

    frame = Frame(frame_info(), dirty=[Box(100, 100, 180, 140)], paint=draw)
    await settle(track, lambda: api.scripts[A.device_name].append(frame))
    assert np.abs(received.pictures[-1] - expected(screen, without=(B.device_name,))).mean() < 3


def test_the_session_ends_when_no_monitor_is_left(api: FakeDuplicationApi) -> None:
    clock = Clock()
    captures = [DuplicationCapture(api, o, clock=clock) for o in (A, B)]
    composed = ComposedDuplication(captures, bounding_box([_monitor(A), _monitor(B)]), clock)
    assert composed.poll(10).damage  # both first pictures
    api.unplugged |= {A.device_name, B.device_name}
    api.scripts[A.device_name].append(Frame(error=win32.DXGI_ERROR_ACCESS_LOST))
    api.scripts[B.device_name].append(Frame(error=win32.DXGI_ERROR_ACCESS_LOST))
    assert composed.poll(10).mode is Mode.WAITING
    clock.now += 1
    assert composed.poll(10).mode is Mode.WAITING  # missing: frozen
    composed.grab()
    clock.now += GONE_AFTER_S
    update = composed.poll(10)
    assert update.mode is Mode.GONE
    assert Rect(0, 64, 160, 128) in update.damage
    assert Rect(160, 0, 320, 240) in update.damage
    with pytest.raises(OutputGone):
        composed.grab()


async def test_the_pointer_is_placed_on_the_monitor_that_sees_it(
    api: FakeDuplicationApi,
) -> None:
    """Each duplication reports the pointer in its own coordinates; the viewer gets union
    coordinates, and an "invisible" from the monitor the pointer left is not believed."""
    capture = WindowsCapture(api)
    capture.open_source().close()
    capture.select(ALL_MONITORS)
    for name in (A.device_name, B.device_name):
        api.scripts[name].append(Frame(frame_info()))
    source = capture.open_source()
    assert isinstance(source, DuplicationSource)
    sent: list[str] = []
    cursor = capture.open_cursor(source, asyncio.get_running_loop(), sent.append)
    assert isinstance(cursor, DuplicationCursor)
    cursor.start()
    a, b = api.scripts[A.device_name], api.scripts[B.device_name]
    b.append(Frame(frame_info(present=False, pointer=(10, 20, True))))
    await until(lambda: len(sent) >= 1)
    a.append(Frame(frame_info(present=False, pointer=(0, 0, False))))  # not its pointer
    await until(lambda: not a)
    await asyncio.sleep(0.05)
    a.append(Frame(frame_info(present=False, pointer=(5, 6, True))))
    await until(lambda: len(sent) >= 2)
    b.append(Frame(frame_info(present=False, pointer=(0, 0, False))))  # left B: old news
    a.append(Frame(frame_info(present=False, pointer=(5, 6, False))))  # hidden on A
    await until(lambda: len(sent) >= 3)
    await asyncio.sleep(0.05)
    cursor.close()
    source.close()
    assert sent == [
        '{"t":"cursor","x":10,"y":84,"v":true}',  # B at (0, 64) in the union
        '{"t":"cursor","x":165,"y":6,"v":true}',  # A at (160, 0)
        '{"t":"cursor","x":165,"y":6,"v":false}',
    ]


def _monitor(output: OutputInfo) -> Monitor:
    d = output.desktop
    return Monitor(0, d.left, d.top, d.width, d.height)


# -- input: a click on the second monitor, with all monitors shown as one desktop ----------

# The layout of test_monitor_choice.py in physical pixels: a 4K primary at 150 % and a
# full-HD monitor at 100 % to its left, lower down (DXGI's second output).
PRIMARY = OutputInfo(0, 0, r"\\.\DISPLAY1", Box(0, 0, 3840, 2160), True, win32.ROTATION_IDENTITY)
LEFT = OutputInfo(0, 1, r"\\.\DISPLAY2", Box(-1920, 540, 0, 1620), True, win32.ROTATION_IDENTITY)
VIRTUAL = Box(-1920, 0, 3840, 2160)


def test_a_click_on_the_second_monitor_lands_on_it() -> None:
    dxgi = FakeDuplicationApi(FakeScreen([PRIMARY, LEFT]))
    capture = WindowsCapture(dxgi, first_picture_s=0.2)
    capture.open_source().close()
    capture.select(ALL_MONITORS)
    source = capture.open_source()
    try:
        g = source.geometry
        assert (g.left, g.top, g.width, g.height) == (-1920, 0, 5760, 2160)
    finally:
        source.close()
    api = FakeInputApi(VIRTUAL, [PRIMARY.desktop, LEFT.desktop])
    injector = WindowsInjector(api)
    # The viewer's (100, 600) on the union; the session adds the union's place
    # (peer_session._on_input): virtual-desktop (-1820, 600), 60 px into the left monitor.
    x, y = g.left + 100, g.top + 600
    injector.inject(PointerButton(0, True, x, y))
    injector.inject(PointerButton(0, False, x, y))
    absolute = win32.MOUSEEVENTF_MOVE | win32.MOUSEEVENTF_ABSOLUTE | win32.MOUSEEVENTF_VIRTUALDESK
    # ceil(100 * 65536 / 5760) = 1138, ceil(600 * 65536 / 2160) = 18205
    common = {"type": win32.INPUT_MOUSE, "dx": 1138, "dy": 18205, "mouseData": 0, "time": 0,
              "dwExtraInfo": win32.MAMORI_INPUT_TAG}  # fmt: skip
    assert [decode(raw) for call in api.calls for raw in call] == [
        {**common, "dwFlags": absolute | win32.MOUSEEVENTF_LEFTDOWN},
        {**common, "dwFlags": absolute | win32.MOUSEEVENTF_LEFTUP},
    ]
    # Windows' own mapping back (n * width / 65536) is the pixel clicked, on the left monitor.
    assert VIRTUAL.left + 1138 * VIRTUAL.width // 65536 == -1820
    assert VIRTUAL.top + 18205 * VIRTUAL.height // 65536 == 600
    assert LEFT.desktop.left <= -1820 < LEFT.desktop.right
    assert LEFT.desktop.top <= 600 < LEFT.desktop.bottom


def test_a_press_in_the_black_gap_is_not_sent() -> None:
    """Above the left monitor the union is black: Windows would move a click there onto
    the left monitor's top edge. The press is dropped; its release is only a move."""
    api = FakeInputApi(VIRTUAL, [PRIMARY.desktop, LEFT.desktop])
    injector = WindowsInjector(api)
    injector.inject(PointerButton(0, True, -1820, 100))
    assert api.calls == []
    assert injector.outside == 1
    injector.inject(PointerButton(0, False, -1820, 100))
    (sent,) = api.sent
    absolute = win32.MOUSEEVENTF_MOVE | win32.MOUSEEVENTF_ABSOLUTE | win32.MOUSEEVENTF_VIRTUALDESK
    assert sent["dwFlags"] == absolute
