"""The viewer's monitor choice on Windows: which output Desktop Duplication captures, and
where a pointer position on the chosen monitor lands, on a mixed-DPI two-monitor layout.
DXGI and SendInput are the fakes'; what Windows does with them is on the README's list."""

from __future__ import annotations

import dataclasses

import pytest

from host_agent.input.events import PointerMove
from host_agent.platform.windows import win32
from host_agent.platform.windows.backend import WindowsCapture
from host_agent.platform.windows.injector import WindowsInjector
from host_agent.platform.windows.win32 import Box, OutputInfo
from host_agent.video.sources import MonitorChoice
from mamori_protocol.monitors import ALL_MONITORS, Monitor, MonitorMessageError
from tests.host_agent.windows.fakes import (
    FakeDuplicationApi,
    FakeInputApi,
    FakeScreen,
    Frame,
    frame_info,
)

pytestmark = pytest.mark.unit

# Physical pixels of a Per-Monitor-V2 process: a 4K primary at 150 % and a full-HD monitor
# at 100 % to its left, lower down (as in test_injector.py), listed primary first by DXGI.
PRIMARY = OutputInfo(0, 0, r"\\.\DISPLAY1", Box(0, 0, 3840, 2160), True, win32.ROTATION_IDENTITY)
LEFT = OutputInfo(0, 1, r"\\.\DISPLAY2", Box(-1920, 540, 0, 1620), True, win32.ROTATION_IDENTITY)
VIRTUAL = Box(-1920, 0, 3840, 2160)


@pytest.fixture
def capture() -> WindowsCapture:
    api = FakeDuplicationApi(FakeScreen([PRIMARY, LEFT]))
    api.script += [Frame(frame_info()) for _ in range(4)]
    return WindowsCapture(api, first_picture_s=0.5)


def test_monitors_in_reading_order_the_primary_first_captured(capture: WindowsCapture) -> None:
    assert isinstance(capture, MonitorChoice)
    source = capture.open_source()
    try:
        assert capture.monitors == [
            Monitor(0, -1920, 540, 1920, 1080, primary=False),
            Monitor(1, 0, 0, 3840, 2160, primary=True),
        ]
        assert (source.geometry.left, source.geometry.top) == (0, 0)
        assert (source.geometry.width, source.geometry.height) == (3840, 2160)
    finally:
        source.close()


def test_the_chosen_monitor_is_captured_and_the_pointer_lands_on_it(
    capture: WindowsCapture,
) -> None:
    capture.open_source().close()
    capture.select(0)
    source = capture.open_source()
    try:
        g = source.geometry
        assert (g.left, g.top, g.width, g.height) == (-1920, 540, 1920, 1080)
    finally:
        source.close()
    # The session offsets viewer positions by the captured area (peer_session._on_input):
    # the viewer's (100, 50) on the left monitor is virtual-desktop (-1820, 590).
    api = FakeInputApi(VIRTUAL, [PRIMARY.desktop, LEFT.desktop])
    WindowsInjector(api).inject(PointerMove(g.left + 100, g.top + 50))
    (sent,) = api.sent
    assert VIRTUAL.left + sent["dx"] * VIRTUAL.width // 65536 == -1820
    assert VIRTUAL.top + sent["dy"] * VIRTUAL.height // 65536 == 590


def test_unknown_monitors_are_refused_all_as_one_is_taken(capture: WindowsCapture) -> None:
    capture.open_source().close()
    with pytest.raises(MonitorMessageError):
        capture.select(2)
    assert capture.selected is None
    capture.select(ALL_MONITORS)  # test_all_monitors.py: what it captures
    assert capture.selected == ALL_MONITORS


def test_a_chosen_monitor_unplugged_falls_back_to_the_primary(capture: WindowsCapture) -> None:
    capture.open_source().close()
    capture.select(0)
    api = capture._api
    assert isinstance(api, FakeDuplicationApi)
    api.unplugged.add(LEFT.device_name)
    source = capture.open_source()
    try:
        assert capture.selected is None
        assert dataclasses.astuple(capture.monitors[0])[1:3] == (0, 0)
        assert (source.geometry.left, source.geometry.width) == (0, 3840)
    finally:
        source.close()
