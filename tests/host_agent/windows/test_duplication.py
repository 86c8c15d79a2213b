"""DXGI Desktop Duplication as the pipeline's source (host_agent.platform.windows.duplication):
scripted DXGI answers from a fake, through the real change detection (ScreenPicture).

What is proven: given these answers, the shadow picture is exact, only dirty rectangles are
read, moves are applied without reading, and the pipeline sees change only where it was.
Not proven: that DXGI answers like this on a real PC (README check-list)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from host_agent.errors import CaptureError
from host_agent.platform.windows import win32
from host_agent.platform.windows.desktop import InputDesktop
from host_agent.platform.windows.duplication import (
    GONE_AFTER_S,
    RETRY_S,
    DuplicationCapture,
    Mode,
)
from host_agent.platform.windows.errors import OutputGone
from host_agent.platform.windows.pointer import shape_rgba
from host_agent.platform.windows.win32 import Box, MoveRect, OutputInfo, PointerShape
from host_agent.video.change_detection import TILE, Rect, ScreenPicture
from tests.host_agent.windows.fakes import (
    FakeDesktopApi,
    FakeDuplicationApi,
    FakeScreen,
    Frame,
    frame_info,
)

pytestmark = pytest.mark.unit

LEFT = OutputInfo(0, 0, r"\\.\DISPLAY1", Box(0, 0, 640, 360), True, win32.ROTATION_IDENTITY)
RIGHT = OutputInfo(0, 1, r"\\.\DISPLAY2", Box(640, 0, 1280, 480), True, win32.ROTATION_IDENTITY)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def screen() -> FakeScreen:
    """Two monitors whose pixels are noise (so that any misplaced copy shows)."""
    fake = FakeScreen([LEFT, RIGHT])
    rng = np.random.default_rng(7)
    for pixels in fake.pixels.values():
        pixels[...] = rng.integers(0, 256, pixels.shape, dtype=np.uint8)
    return fake


@pytest.fixture
def api(screen: FakeScreen) -> FakeDuplicationApi:
    return FakeDuplicationApi(screen)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def capture(api: FakeDuplicationApi, clock: Clock) -> DuplicationCapture:
    """The right-hand monitor, its first (whole) picture already taken."""
    capture = DuplicationCapture(api, RIGHT, clock=clock)
    api.script.append(Frame(frame_info()))
    first = capture.poll(100)
    assert first.damage == (Rect(0, 0, 640, 480),)
    assert api.reads == [[Box(0, 0, 640, 480)]]
    capture.take()
    api.reads.clear()
    return capture


def screen_of(api: FakeDuplicationApi) -> np.ndarray:
    return api.screen.pixels[RIGHT.device_name]


def tiles(*rects: Rect, rows: int = 30, cols: int = 40) -> np.ndarray:
    """The tile mask the pipeline should see for drawing in ``rects``."""
    mask = np.zeros((rows, cols), dtype=bool)
    for r in rects:
        mask[r.y // TILE : -(-(r.y + r.h) // TILE), r.x // TILE : -(-(r.x + r.w) // TILE)] = True
    return mask


def paint(box: Box, value: int) -> Callable[[np.ndarray], None]:
    def draw(pixels: np.ndarray) -> None:
        pixels[box.top : box.bottom, box.left : box.right] = value

    return draw


def test_geometry_is_the_monitor_on_the_virtual_desktop(capture: DuplicationCapture) -> None:
    """The captured area is the output's DesktopCoordinates (even sizes), the shadow exact."""
    assert (capture.geometry.left, capture.geometry.top) == (640, 0)
    assert (capture.geometry.width, capture.geometry.height) == (640, 480)
    assert capture.mode is Mode.DUPLICATION
    assert np.array_equal(capture.grab(), screen_of(capture._api))  # type: ignore[attr-defined]


def test_dirty_rect_reaches_the_pipeline_only_where_drawn(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """A frame with one dirty rectangle: only it is read, it is the damage, and the real
    change detection marks exactly its tiles; the rest of the picture is untouched."""
    picture = ScreenPicture(640, 480)
    picture.update(capture.grab, None)  # the first, whole picture
    box = Box(100, 50, 130, 70)
    api.script.append(Frame(frame_info(), dirty=[box], paint=paint(box, 200)))
    update = capture.poll(100)
    assert update.damage == (Rect(100, 50, 30, 20),)
    assert api.reads == [[box]]
    region = capture.take()
    assert region == Rect(100, 50, 30, 20)
    changed = picture.update(capture.grab, region)
    assert np.array_equal(changed, tiles(Rect(100, 50, 30, 20)))
    assert np.array_equal(picture.bgra, screen_of(api))


def test_scroll_is_moved_in_the_shadow_not_read(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """A list scrolled up by 32 px (a move rect) plus the newly exposed strip (a dirty
    rect): only the strip is read from the GPU, the shadow matches the screen exactly."""

    def scroll(pixels: np.ndarray) -> None:
        pixels[0:448] = pixels[32:480].copy()
        pixels[448:480] = 17

    api.script.append(
        Frame(
            frame_info(),
            moves=[MoveRect(0, 32, Box(0, 0, 640, 448))],
            dirty=[Box(0, 448, 640, 480)],
            paint=scroll,
        )
    )
    update = capture.poll(100)
    assert api.reads == [[Box(0, 448, 640, 480)]]
    assert update.moved == (Rect(0, 0, 640, 448),)
    assert capture.stats.moves_applied == 1
    assert np.array_equal(capture.grab(), screen_of(api))
    assert capture.take() == Rect(0, 0, 640, 480)


def test_move_from_outside_the_picture_is_read(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """A move whose source is not in the shadow (off the monitor) is read instead."""

    def drag(pixels: np.ndarray) -> None:
        pixels[0:40, 0:60] = 99

    api.script.append(Frame(frame_info(), moves=[MoveRect(-30, 0, Box(0, 0, 60, 40))], paint=drag))
    capture.poll(100)
    assert api.reads == [[Box(0, 0, 60, 40)]]
    assert capture.stats.moves_applied == 0
    assert np.array_equal(capture.grab(), screen_of(api))


def test_timeout_is_nothing_changed(capture: DuplicationCapture, api: FakeDuplicationApi) -> None:
    """WAIT_TIMEOUT: no damage, no read, the same duplication, no error."""
    update = capture.poll(100)  # the script is empty: the fake times out
    assert update.damage == ()
    assert update.mode is Mode.DUPLICATION
    assert capture.take() is None
    assert api.reads == []
    assert capture.stats.timeouts == 1
    assert len(api.duplications) == 1


def test_access_lost_mid_session_recreates_and_reads_whole(
    api: FakeDuplicationApi, clock: Clock
) -> None:
    """ACCESS_LOST (the UAC prompt): the duplication is closed, the thread follows the input
    desktop, a new duplication is made, and its first picture is read whole."""
    desktops = FakeDesktopApi("Default", "Winlogon")
    follower = InputDesktop(desktops, clock=clock)
    capture = DuplicationCapture(api, RIGHT, clock=clock, desktop=follower)
    api.script += [Frame(frame_info()), Frame(error=win32.DXGI_ERROR_ACCESS_LOST)]
    capture.poll(100)
    assert desktops.attaches == 1
    capture.take()
    lost = capture.poll(100)
    assert lost.recreated
    assert api.duplications[0].closed
    assert follower.kind.value == "Winlogon"
    box = Box(0, 0, 10, 10)
    api.script.append(Frame(frame_info(), dirty=[box], paint=paint(box, 1)))
    update = capture.poll(100)
    assert desktops.attaches == 2  # attached to the secure desktop before the new one
    assert len(api.duplications) == 2
    assert update.damage == (Rect(0, 0, 640, 480),)
    assert api.reads[-1] == [Box(0, 0, 640, 480)]
    assert np.array_equal(capture.grab(), screen_of(api))


def test_read_failing_mid_frame_recreates(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """ACCESS_LOST while reading the frame's pixels is handled like at acquisition."""
    api.script.append(
        Frame(frame_info(), dirty=[Box(0, 0, 8, 8)], read_error=win32.DXGI_ERROR_ACCESS_LOST)
    )
    assert capture.poll(100).recreated
    assert capture.stats.recreations == 1


def test_unknown_failure_is_a_capture_error(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """An HRESULT no rule knows ends the capture with a CaptureError naming it."""
    api.script.append(Frame(error=0x80004005))
    with pytest.raises(CaptureError, match="0x80004005"):
        capture.poll(100)


def test_pointer_position_and_shape_without_a_new_picture(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """A frame with only pointer news: position and shape are reported, nothing is read."""
    i_beam = PointerShape(
        win32.POINTER_MONOCHROME, 8, 4, 1, 3, 1,
        bytes([0xFF, 0x01, 0x00, 0x19]),  # AND rows, then XOR rows
    )  # fmt: skip
    api.script.append(
        Frame(frame_info(present=False, pointer=(33, 44, True), shape=32), shape=i_beam)
    )
    update = capture.poll(100)
    assert update.pointer_position == (33, 44, True)
    assert update.pointer_shape == i_beam
    assert update.damage == ()
    assert api.reads == []
    rgba = shape_rgba(i_beam)
    assert rgba.shape == (2, 8, 4)
    # AND 1 / XOR 0 is transparent; AND 0 / XOR 0 black; AND 0 / XOR 1 white; AND 1 /
    # XOR 1 (invert the screen) is drawn opaque black.
    assert list(rgba[0, :, 3]) == [0] * 8
    assert list(rgba[1, 0]) == [0, 0, 0, 255]
    assert list(rgba[1, 3]) == [255, 255, 255, 255]
    assert list(rgba[1, 4]) == [255, 255, 255, 255]
    assert list(rgba[1, 7]) == [0, 0, 0, 255]


def test_unplugged_monitor_freezes_then_ends_the_session(
    capture: DuplicationCapture, api: FakeDuplicationApi, clock: Clock
) -> None:
    """The captured monitor unplugged: ACCESS_LOST, then it is missing: the picture stays
    frozen (no damage) while it is looked for, then the source is gone for good."""
    frozen = capture.grab()
    api.script.append(Frame(error=win32.DXGI_ERROR_ACCESS_LOST))
    api.unplugged.add(RIGHT.device_name)
    capture.poll(100)
    assert capture.poll(100).mode is Mode.WAITING
    assert capture.take() is None
    assert np.array_equal(capture.grab(), frozen)
    clock.now += GONE_AFTER_S
    assert capture.poll(100).mode is Mode.GONE
    assert capture.take() == Rect(0, 0, 640, 480)  # so the pipeline grabs, and learns
    with pytest.raises(OutputGone):
        capture.grab()


def test_monitor_back_in_place_resumes(
    capture: DuplicationCapture, api: FakeDuplicationApi, clock: Clock
) -> None:
    """Plugged back in at the same place before the deadline: a new duplication, whole."""
    api.script.append(Frame(error=win32.DXGI_ERROR_ACCESS_LOST))
    api.unplugged.add(RIGHT.device_name)
    capture.poll(100)
    capture.poll(100)
    api.unplugged.clear()
    clock.now += 1
    api.script.append(Frame(frame_info(), dirty=[Box(0, 0, 1, 1)]))
    update = capture.poll(100)
    assert update.mode is Mode.DUPLICATION
    assert update.damage == (Rect(0, 0, 640, 480),)


def test_monitor_moved_ends_the_session(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """The left monitor unplugged moves the right one to (0, 0): the session's geometry is
    wrong now, so the source is gone at once (pointer positions would be off)."""
    moved = OutputInfo(0, 0, RIGHT.device_name, Box(0, 0, 640, 480), True, 1)
    api.screen.outputs = [moved]
    api.screen.pixels[RIGHT.device_name] = screen_of(api)
    api.script.append(Frame(error=win32.DXGI_ERROR_ACCESS_LOST))
    capture.poll(100)
    assert capture.poll(100).mode is Mode.GONE


def test_no_duplication_falls_back_to_gdi_and_retries(
    api: FakeDuplicationApi, clock: Clock
) -> None:
    """DuplicateOutput unsupported (an RDP session, an old driver): GDI grabs the monitor
    and only the changed bounding box is damage; after RETRY_S duplication is tried again."""
    grabs: list[Box] = []

    def gdi(box: Box) -> np.ndarray:
        grabs.append(box)
        return screen_of(api).copy()

    api.duplicate_errors = [win32.DXGI_ERROR_UNSUPPORTED]
    capture = DuplicationCapture(api, RIGHT, gdi=gdi, clock=clock)
    first = capture.poll(100)
    assert first.mode is Mode.GDI
    assert first.damage == (Rect(0, 0, 640, 480),)
    assert grabs == [RIGHT.desktop]
    assert capture.poll(100).damage == ()
    screen_of(api)[200:210, 300:305] = 0
    assert capture.poll(100).damage == (Rect(300, 200, 5, 10),)
    assert np.array_equal(capture.grab(), screen_of(api))
    clock.now += RETRY_S
    api.script.append(Frame(frame_info()))
    again = capture.poll(100)
    assert again.mode is Mode.DUPLICATION
    assert len(api.duplications) == 1


def test_rotated_monitor_uses_gdi(api: FakeDuplicationApi, clock: Clock) -> None:
    """A rotated monitor's duplicated image is not rotated: GDI's is, so GDI is used."""
    rotated = OutputInfo(0, 1, RIGHT.device_name, RIGHT.desktop, True, 2)
    api.screen.outputs = [LEFT, rotated]
    capture = DuplicationCapture(api, rotated, gdi=lambda box: screen_of(api).copy(), clock=clock)
    assert capture.poll(100).mode is Mode.GDI
    assert api.duplications == []


def test_without_gdi_an_unavailable_duplication_waits(
    api: FakeDuplicationApi, clock: Clock
) -> None:
    """No fallback grabber and no duplication: nothing is captured, and it is retried."""
    api.duplicate_errors = [win32.E_ACCESSDENIED]
    capture = DuplicationCapture(api, RIGHT, clock=clock)
    assert capture.poll(100).mode is Mode.WAITING
    clock.now += RETRY_S
    api.script.append(Frame(frame_info()))
    assert capture.poll(100).mode is Mode.DUPLICATION


def test_odd_sized_monitor_is_cropped_to_even(api: FakeDuplicationApi, clock: Clock) -> None:
    """1365x767 is captured as 1364x766 (4:2:0), damage clipped to that."""
    odd = OutputInfo(0, 0, r"\\.\DISPLAY9", Box(0, 0, 1365, 767), True, 1)
    api.screen = FakeScreen([odd])
    capture = DuplicationCapture(api, odd, clock=clock)
    api.script.append(Frame(frame_info()))
    assert capture.poll(100).damage == (Rect(0, 0, 1364, 766),)
    api.script.append(Frame(frame_info(), dirty=[Box(1364, 0, 1365, 767)]))
    assert capture.poll(100).damage == ()


def test_switch_seen_by_the_injector_still_recreates(api: FakeDuplicationApi, clock: Clock) -> None:
    """The follower is shared: a desktop switch the injector saw first still makes the
    capture drop its duplication and attach to the new desktop before the next one."""
    desktops = FakeDesktopApi("Default", "Winlogon")
    follower = InputDesktop(desktops, clock=clock)
    capture = DuplicationCapture(api, RIGHT, clock=clock, desktop=follower)
    api.script.append(Frame(frame_info()))
    capture.poll(100)
    follower.poll(force=True)  # the injector's poll sees Winlogon
    api.script.append(Frame(frame_info()))
    assert capture.poll(100).recreated
    assert desktops.attaches == 2
    assert len(api.duplications) == 2


def test_release_frame_lost_keeps_the_frame_and_recreates(
    capture: DuplicationCapture, api: FakeDuplicationApi
) -> None:
    """ReleaseFrame answering ACCESS_LOST: what was read stays applied, and the next poll
    makes a new duplication rather than ending the capture."""
    box = Box(0, 0, 16, 16)
    api.script.append(
        Frame(
            frame_info(),
            dirty=[box],
            paint=paint(box, 77),
            release_error=win32.DXGI_ERROR_ACCESS_LOST,
        )
    )
    assert capture.poll(100).damage == (Rect(0, 0, 16, 16),)
    assert np.array_equal(capture.grab(), screen_of(api))
    api.script.append(Frame(frame_info()))
    capture.poll(100)
    assert len(api.duplications) == 2


def test_image_of_another_size_is_not_read(api: FakeDuplicationApi, clock: Clock) -> None:
    """A duplication whose image is not the monitor's rectangle (a mode change under way)
    is never read: the session must start again at the new size."""
    api.describe_as = (1024, 768)
    capture = DuplicationCapture(api, RIGHT, clock=clock)
    assert capture.poll(100).mode is Mode.GONE
    assert api.duplications[0].closed
    assert api.reads == []
