"""The Windows backend put together: capture thread, change notices, cursor, injector.

``WindowsCapture`` is the screen track's ``CaptureBackend`` (``video/sources.py``) on
Windows. One capture thread per track runs ``DuplicationCapture.poll`` in a loop (DXGI's
AcquireNextFrame blocks, and its objects stay on one thread), or, for all monitors as one
desktop, ``ComposedDuplication.poll`` over one duplication per monitor, and tells the
event loop:

- that something changed (``loop.call_soon_threadsafe``: the ``ChangeMonitor`` side, as
  XDamage notifications do on X11), the track then takes the damage and grabs it from the
  shadow picture on its encode thread;
- what the pointer did (the cursor side: the same messages as X11's XFixes watcher).

Everything here is platform-free: the thin module's Protocols come in as parameters, and
the tests run it with fakes, through the real screen track and x264. The ``open_*``
functions at the end are what ``platform.backends`` calls on Windows: they load the thin
module's real implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import numpy as np

from host_agent.errors import AgentError, CaptureError
from host_agent.platform.windows import win32
from host_agent.platform.windows.composition import ComposedDuplication
from host_agent.platform.windows.desktop import InputDesktop
from host_agent.platform.windows.duplication import (
    DuplicationCapture,
    GdiGrab,
    Mode,
    PolledCapture,
    Update,
)
from host_agent.platform.windows.injector import WindowsInjector
from host_agent.platform.windows.pointer import shape_rgba
from host_agent.platform.windows.privacy import PrivacyScreen, WindowsBanner
from host_agent.platform.windows.win32 import Box, DesktopApi, DuplicationApi, OutputInfo
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.cursor import position_message, rgba_shape_message
from host_agent.video.sources import FrameSource
from mamori_protocol.monitors import (
    ALL_MONITORS,
    MAX_MONITORS,
    Monitor,
    region_for,
)

log = logging.getLogger(__name__)

# AcquireNextFrame's wait: short enough that stopping is quick, long enough to be idle.
ACQUIRE_TIMEOUT_MS: Final = 100
# open_source waits this long for the first picture, so that the first frame sent is not
# the black of an empty shadow.
FIRST_PICTURE_S: Final = 1.0


def choose_output(outputs: list[OutputInfo], device_name: str | None = None) -> OutputInfo:
    """The monitor to capture: the one named, else the primary (the one at 0,0).

    Raises:
        CaptureError: no such monitor, or none attached to the desktop.
    """
    attached = [o for o in outputs if o.attached]
    if device_name is not None:
        for output in attached:
            if output.device_name == device_name:
                return output
        raise CaptureError(f"no monitor named {device_name}")
    for output in attached:
        box = output.desktop
        if box.left <= 0 < box.right and box.top <= 0 < box.bottom:
            return output
    if not attached:
        raise CaptureError("Windows reports no monitor attached to the desktop")
    return attached[0]


class CapturePump:
    """The capture thread: polls the duplication, tells listeners what happened."""

    def __init__(self, capture: PolledCapture, sleep_s: float = 0.1) -> None:
        self.capture = capture
        self._sleep_s = sleep_s
        self._stop = threading.Event()
        self.first_picture = threading.Event()
        self.on_change: Callable[[], None] | None = None
        self.on_pointer: Callable[[Update], None] | None = None
        self.error: AgentError | None = None
        self._pointer_lock = threading.Lock()
        self.last_pointer = Update(Mode.DUPLICATION)
        self._thread = threading.Thread(target=self._run, name="mamori-dxgi", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                update = self.capture.poll(ACQUIRE_TIMEOUT_MS)
            except AgentError as exc:
                log.error("screen capture stopped: %s", exc)
                self.error = exc
                self._changed()  # the track grabs, and learns
                return
            if update.damage or update.mode is Mode.GONE:
                self.first_picture.set()
                self._changed()
            if update.pointer_position is not None or update.pointer_shape is not None:
                self._remember(update)
                listener = self.on_pointer
                if listener is not None:
                    listener(update)
            if update.mode is Mode.GONE:
                return
            if update.mode is not Mode.DUPLICATION:
                # GDI, or waiting for the monitor: no AcquireNextFrame to wait in.
                self._stop.wait(self._sleep_s)
        with contextlib.suppress(AgentError):
            self.capture.close()

    def _remember(self, update: Update) -> None:
        """DXGI reports a shape only when it changes: keep the last one (and position) for
        a cursor that starts later."""
        with self._pointer_lock:
            shape = update.pointer_shape or self.last_pointer.pointer_shape
            position = update.pointer_position or self.last_pointer.pointer_position
            self.last_pointer = Update(
                Mode.DUPLICATION, pointer_position=position, pointer_shape=shape
            )

    def pointer_now(self) -> Update:
        """The last pointer shape and position seen (either may be None)."""
        with self._pointer_lock:
            return self.last_pointer

    def _changed(self) -> None:
        listener = self.on_change
        if listener is not None:
            listener()


class DuplicationSource:
    """The ``FrameSource``: pixels from the shadow picture the pump keeps up to date."""

    # Both captures hand out a copy of their shadow or a new composition (FrameSource).
    fresh_grabs = True

    def __init__(self, pump: CapturePump) -> None:
        self.pump = pump

    @property
    def geometry(self) -> ScreenGeometry:
        return self.pump.capture.geometry

    def grab(self, rect: Rect | None = None) -> BGRA:
        if self.pump.error is not None:
            raise CaptureError(str(self.pump.error))
        return self.pump.capture.grab(rect)

    def close(self) -> None:
        self.pump.stop()


class DuplicationMonitor:
    """The ``ChangeMonitor``: the pump's notices, delivered on the event loop."""

    polling = False

    def __init__(self, pump: CapturePump, loop: asyncio.AbstractEventLoop) -> None:
        self._pump = pump
        self._loop = loop

    def start(self, on_change: Callable[[], None]) -> None:
        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(on_change)

        self._pump.on_change = notify
        notify()  # a picture may be waiting already

    def take(self) -> Rect | None:
        return self._pump.capture.take()

    def close(self) -> None:
        self._pump.on_change = None


class DuplicationCursor:
    """The cursor source: DXGI's pointer position and shape as the viewer's messages."""

    def __init__(
        self, pump: CapturePump, loop: asyncio.AbstractEventLoop, send: Callable[[str], None]
    ) -> None:
        self._pump = pump
        self._loop = loop
        self._send = send
        self._serial = 0
        self._last: tuple[int, int, bool] | None = None
        self._lock = threading.Lock()  # start() replays on the loop while the pump sends
        self.shapes_sent = 0
        self.positions_sent = 0

    def start(self) -> None:
        self._pump.on_pointer = self._on_pointer
        known = self._pump.pointer_now()
        if known.pointer_shape is not None or known.pointer_position is not None:
            self._on_pointer(known)  # the viewer gets the current cursor at once

    def close(self) -> None:
        self._pump.on_pointer = None

    def _on_pointer(self, update: Update) -> None:
        """On the capture thread: build the messages, send them from the event loop."""
        with self._lock:
            messages = self._messages(update)
        for message in messages:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._send, message)

    def _messages(self, update: Update) -> list[str]:
        messages = []
        if update.pointer_shape is not None:
            try:
                rgba = shape_rgba(update.pointer_shape)
            except ValueError:
                log.debug("pointer shape unusable", exc_info=True)
            else:
                self._serial += 1
                shape = update.pointer_shape
                messages.append(rgba_shape_message(self._serial, rgba, shape.hot_x, shape.hot_y))
                self.shapes_sent += 1
        if update.pointer_position is not None:
            g = self._pump.capture.geometry
            x, y, shown = update.pointer_position
            visible = shown and 0 <= x < g.width and 0 <= y < g.height
            position = (min(max(x, 0), g.width - 1), min(max(y, 0), g.height - 1), visible)
            if position != self._last:
                self._last = position
                messages.append(position_message(*position))
                self.positions_sent += 1
        return messages


class WindowsCapture:
    """The ``CaptureBackend`` of Windows: one monitor through Desktop Duplication, the one
    the viewer chooses (``MonitorChoice``; the primary until then), or all of them as one
    desktop (``ALL_MONITORS``: one duplication per monitor, ``composition.py``).

    Monitors are numbered in reading order of their virtual-desktop boxes, in physical
    pixels (the process is Per-Monitor-V2 aware), so the session's offset of a pointer
    position is the monitor's (or the union's) place on the virtual desktop whatever the
    scale factors.
    """

    def __init__(
        self,
        api: DuplicationApi,
        desktop: InputDesktop | None = None,
        *,
        device_name: str | None = None,
        gdi: Callable[[], GdiGrab] | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_picture_s: float = FIRST_PICTURE_S,
    ) -> None:
        self._api = api
        self._desktop = desktop
        self._device_name = device_name
        self._gdi = gdi
        self._clock = clock
        self._first_picture_s = first_picture_s
        self._pumps: list[CapturePump] = []
        self.monitors: list[Monitor] = []
        self.selected: int | None = None
        self._by_id: dict[int, str] = {}
        self._chosen: str | None = None
        self._all = False

    def select(self, choice: int | None) -> None:
        region_for(self.monitors, choice)  # raises for an id not listed
        self.selected = choice
        # Remembered by name: ids are positions, and another monitor may take this one's.
        self._all = choice == ALL_MONITORS
        self._chosen = None if choice is None or self._all else self._by_id[choice]

    def open_source(self) -> DuplicationSource:
        outputs = self._api.outputs()
        self._number(outputs)
        capture: PolledCapture
        if self._all and self.monitors:
            # Every listed monitor (those _number kept), composed into their union.
            named = {o.device_name: o for o in outputs}
            capture = ComposedDuplication(
                [self._duplication(named[self._by_id[m.id]]) for m in self.monitors],
                region_for(self.monitors, ALL_MONITORS),
                self._clock,
            )
            what = "all monitors"
        else:
            output = choose_output(outputs, self._chosen or self._device_name)
            capture, what = self._duplication(output), output.device_name
        pump = CapturePump(capture)
        pump.start()
        if not pump.first_picture.wait(self._first_picture_s):
            log.warning("no picture from %s yet: starting black", what)
        return DuplicationSource(pump)

    def _duplication(self, output: OutputInfo) -> DuplicationCapture:
        grabber = _lazy(self._gdi) if self._gdi is not None else None
        return DuplicationCapture(
            self._api, output, gdi=grabber, desktop=self._desktop, clock=self._clock
        )

    def _number(self, outputs: list[OutputInfo]) -> None:
        attached = sorted(
            (o for o in outputs if o.attached), key=lambda o: (o.desktop.left, o.desktop.top)
        )[:MAX_MONITORS]
        primary = choose_output(outputs, None).device_name if attached else None
        self.monitors = [
            Monitor(index, o.desktop.left, o.desktop.top, o.desktop.width, o.desktop.height,
                    primary=o.device_name == primary)
            for index, o in enumerate(attached)
        ]  # fmt: skip
        self._by_id = {index: o.device_name for index, o in enumerate(attached)}
        ids = {name: index for index, name in self._by_id.items()}
        if self._chosen is not None and self._chosen not in ids:
            self._chosen = None  # unplugged since the choice: back to the primary
        if self._all:
            self.selected = ALL_MONITORS  # whatever monitors there are now
        else:
            self.selected = None if self._chosen is None else ids[self._chosen]

    def open_monitor(
        self, source: FrameSource, loop: asyncio.AbstractEventLoop
    ) -> DuplicationMonitor:
        return DuplicationMonitor(_pump_of(source), loop)

    def open_cursor(
        self, source: FrameSource, loop: asyncio.AbstractEventLoop, send: Callable[[str], None]
    ) -> DuplicationCursor:
        return DuplicationCursor(_pump_of(source), loop, send)


def _pump_of(source: FrameSource) -> CapturePump:
    if not isinstance(source, DuplicationSource):
        raise CaptureError("not a Desktop Duplication source")
    return source.pump


def _lazy(factory: Callable[[], GdiGrab]) -> GdiGrab:
    """A grabber made on first use, so on the thread that uses it (mss is thread-bound)."""
    made: list[GdiGrab] = []

    def grab(box: Box) -> win32.Pixels:
        if not made:
            made.append(factory())
        return made[0](box)

    return grab


def mss_grabber() -> GdiGrab:
    """GDI BitBlt through mss (which uses it on Windows)."""
    import mss

    shooter = mss.MSS()

    def grab(box: Box) -> win32.Pixels:
        shot = shooter.grab(
            {"left": box.left, "top": box.top, "width": box.width, "height": box.height}
        )
        return np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4).copy()

    return grab


# -- what platform.backends calls on Windows --------------------------------------------------


def open_desktop(api: DesktopApi | None = None) -> InputDesktop:
    """The worker's input-desktop follower; makes the process Per-Monitor-V2 DPI aware first
    (before any window or coordinate is used)."""
    desktop_api = api or win32.desktop_api()
    if not desktop_api.set_dpi_awareness():
        log.warning("Per-Monitor-V2 DPI awareness refused: the layout check will decide")
    return InputDesktop(desktop_api)


def open_capture(desktop: InputDesktop) -> WindowsCapture:
    return WindowsCapture(win32.duplication_api(), desktop, gdi=mss_grabber)


def open_injector(desktop: InputDesktop) -> WindowsInjector:
    return WindowsInjector(win32.input_api(), desktop)


def primary_monitor(api: win32.InputApi) -> Box:
    """The monitor at (0, 0) (Windows' primary), else the first."""
    monitors = api.monitors()
    for box in monitors:
        if box.left <= 0 < box.right and box.top <= 0 < box.bottom:
            return box
    if not monitors:
        raise CaptureError("Windows reports no monitor")
    return monitors[0]


def open_banner() -> WindowsBanner:
    return WindowsBanner(win32.overlay_api(), primary_monitor(win32.input_api()))


def open_privacy_screen(desktop: InputDesktop, who: str) -> PrivacyScreen:
    """The privacy screen over every monitor (``desktop``: made first, so that the process
    is DPI aware before monitors are measured)."""
    build = win32.desktop_api().windows_build()
    return PrivacyScreen(win32.overlay_api(), build, win32.input_api().monitors(), who)


def watch_stop_event(name: str, on_stop: Callable[[], None]) -> threading.Thread:
    """A thread that calls ``on_stop`` once the service signals the named event."""
    api = win32.service_api()

    def watch() -> None:
        while not api.wait_event(name, 1.0):
            pass
        on_stop()

    thread = threading.Thread(target=watch, name="mamori-stop-event", daemon=True)
    thread.start()
    return thread
