"""The X11 privacy screen and the composed capture, on a real Xvfb: the monitors (the root
window's pixels) show the notice, the composed capture still reads the EHR, and a display
whose screen another compositing manager holds refuses the privacy screen, changing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import composite

from devkit.display import SampleApp, XvfbDisplay, start_sample_app, start_xvfb
from host_agent.errors import InjectionError
from host_agent.platform.notices import NOTICE_BACKGROUND
from host_agent.platform.x11.local_input import LocalInputLock
from host_agent.platform.x11.privacy import PrivacyScreen
from host_agent.video.change_detection import Rect
from host_agent.video.composed import ComposedCapture, WindowDamage
from host_agent.video.monitors import x11_monitors

pytestmark = pytest.mark.display

HEADER_RGB = (0x1E, 0x6B, 0x5C)  # the sample app's header bar colour


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[tuple[XvfbDisplay, SampleApp]]:
    with (
        start_xvfb(1280, 720) as display,
        start_sample_app(display, tmp_path / "state.json") as app,
    ):
        yield display, app


def monitors_show(name: str) -> np.ndarray:
    conn: Any = xdisplay.Display(name)
    try:
        image = conn.screen().root.get_image(0, 0, 1280, 720, X.ZPixmap, 0xFFFFFFFF)
        return np.frombuffer(image.data, dtype=np.uint8).reshape(720, 1280, 4)[..., [2, 1, 0]]
    finally:
        conn.close()


def header(rgb: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) for c in np.median(rgb[6:20, 1150:1270].reshape(-1, 3), axis=0))


def near(found: tuple[int, ...], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(found, wanted, strict=True))


def physical_devices(name: str) -> list[int]:
    """The ids of the display's keyboard and mouse (read while they are enabled: XInput
    lists a disabled device as floating, no longer as a keyboard or mouse)."""
    probe = LocalInputLock(name)
    try:
        return [device_id for device_id, _ in probe.physical_devices()]
    finally:
        probe.close()


def devices_enabled(name: str, ids: list[int]) -> list[bool]:
    probe = LocalInputLock(name)
    try:
        return [probe.is_enabled(device_id) for device_id in ids]
    finally:
        probe.close()


def test_notice_on_the_monitors_the_ehr_in_the_capture_and_back_after(
    desktop: tuple[XvfbDisplay, SampleApp],
) -> None:
    display, _ = desktop
    ids = physical_devices(display.name)
    assert len(ids) == 2
    capture = ComposedCapture(display.name, x11_monitors(display.name)[0])
    screen = PrivacyScreen(display.name, "山田 太郎（テスト診療所）")
    try:
        assert sorted(screen.lock()) == ["Xvfb keyboard", "Xvfb mouse"]
        shown = monitors_show(display.name)
        assert near(header(shown), NOTICE_BACKGROUND)
        assert (shown[260:460, 240:1040].min(axis=-1) > 220).sum() > 500  # the notice's text
        assert devices_enabled(display.name, ids) == [False, False]
        captured = capture.grab()[..., [2, 1, 0]]
        assert near(header(captured), HEADER_RGB)
        assert captured.shape == (720, 1280, 3)
    finally:
        screen.close()
        capture.close()
    assert near(header(monitors_show(display.name)), HEADER_RGB)
    assert devices_enabled(display.name, ids) == [True, True]


def test_refused_where_another_compositor_holds_the_screen(
    desktop: tuple[XvfbDisplay, SampleApp],
) -> None:
    """Fail closed: the session would show the room the EHR, so it must not start."""
    display, _ = desktop
    ids = physical_devices(display.name)
    compositor: Any = xdisplay.Display(display.name)
    try:
        compositor.screen().root.composite_redirect_subwindows(composite.RedirectManual)
        compositor.sync()
        screen = PrivacyScreen(display.name, "山田")
        with pytest.raises(InjectionError, match="another compositing manager"):
            screen.lock()
        assert screen.overlay is None
        assert devices_enabled(display.name, ids) == [True, True]
        screen.close()
    finally:
        compositor.close()


def median_of(rgb: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) for c in np.median(rgb.reshape(-1, 3), axis=0))


def colour_window(conn: Any, box: tuple[int, int, int, int], rgb: tuple[int, int, int]) -> Any:
    screen = conn.screen()
    window = screen.root.create_window(
        *box, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        background_pixel=(rgb[0] << 16) | (rgb[1] << 8) | rgb[2], override_redirect=True,
    )  # fmt: skip
    window.map()
    conn.sync()
    return window


async def test_a_window_opened_during_the_session_is_captured_never_shown(
    desktop: tuple[XvfbDisplay, SampleApp],
) -> None:
    """A dialog the EHR opens mid-session: the viewer's capture gets it (and its drawing, in
    root coordinates), the monitors keep the notice."""
    display, _ = desktop
    region = x11_monitors(display.name)[0]
    capture = ComposedCapture(display.name, region)
    changes = WindowDamage(display.name, asyncio.get_running_loop())
    changed = asyncio.Event()
    changes.start(changed.set)
    screen = PrivacyScreen(display.name, "山田")
    app: Any = xdisplay.Display(display.name)
    try:
        screen.lock()
        changes.take()
        changed.clear()
        dialog = colour_window(app, (300, 200, 200, 100), (0xE0, 0xA0, 0x20))
        async with asyncio.timeout(5):
            await changed.wait()
        assert changes.take() is None  # a window appeared: look everywhere
        grabbed = capture.grab(Rect(300, 200, 200, 100))[..., [2, 1, 0]]
        assert near(median_of(grabbed), (0xE0, 0xA0, 0x20))
        assert near(median_of(monitors_show(display.name)[200:300, 300:500]), NOTICE_BACKGROUND)
        changed.clear()
        dialog.fill_rectangle(dialog.create_gc(foreground=0xFFFFFF), 10, 20, 30, 40)
        app.sync()
        async with asyncio.timeout(5):
            await changed.wait()
        # In root coordinates (the window's own would be 10, 20); the window's first paint
        # may still be reported with it, so within the window, around the drawing.
        rect = changes.take()
        assert rect is not None
        assert 300 <= rect.x <= 310
        assert 200 <= rect.y <= 220
        assert 340 <= rect.x + rect.w <= 500
        assert 260 <= rect.y + rect.h <= 300
    finally:
        app.close()
        screen.close()
        changes.close()
        capture.close()
