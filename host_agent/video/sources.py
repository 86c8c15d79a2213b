"""Where the screen track's pixels, change notices and cursor come from.

The track needs three things from the desktop system: a ``FrameSource`` (the captured
area's geometry and its pixels, used on the encode thread), a ``ChangeMonitor`` (when and
where to look, on the event loop; ``damage.py``) and a cursor source (shape and position
for the viewer's overlay; ``cursor.py``). A ``CaptureBackend`` makes all three. The default,
``DisplayCapture``, is X11's: mss, XDamage and XFixes. The Windows backend
(``platform/windows/backend.py``, DXGI Desktop Duplication) is another one;
``platform.backends.open_capture`` picks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from host_agent.errors import CaptureError
from host_agent.video.capture import ScreenCapture, ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.cursor import CursorWatcher
from host_agent.video.damage import ChangeMonitor, open_monitor
from host_agent.video.monitors import x11_monitors
from mamori_protocol.monitors import Monitor, region_for


class FrameSource(Protocol):
    """The captured area's pixels; belongs to the thread that opened it."""

    @property
    def geometry(self) -> ScreenGeometry: ...

    def grab(self, rect: Rect | None = None) -> BGRA:
        """The pixels of ``rect`` (captured-area coordinates; all if None), BGRA.

        Raises:
            CaptureError: the screen cannot be captured any more.
        """
        ...

    def close(self) -> None: ...


class CursorSource(Protocol):
    """Sends cursor messages (``cursor.position_message``/``shape_message``) once started."""

    def start(self) -> None: ...

    def close(self) -> None: ...


class CaptureBackend(Protocol):
    """Makes the three parts of a screen track's capture."""

    def open_source(self) -> FrameSource:
        """Called on the encode thread.

        Raises:
            CaptureError: no screen to capture.
        """
        ...

    def open_monitor(self, source: FrameSource, loop: asyncio.AbstractEventLoop) -> ChangeMonitor:
        """Called on the event loop, after ``open_source``."""
        ...

    def open_cursor(
        self, source: FrameSource, loop: asyncio.AbstractEventLoop, send: Callable[[str], None]
    ) -> CursorSource:
        """Called on the event loop for the track's ``source``. Raises when the system
        offers no cursor information."""
        ...


@runtime_checkable
class MonitorChoice(Protocol):
    """A capture backend whose area the viewer chooses among the host's monitors.

    ``open_source`` captures the area chosen last (the primary monitor until a choice);
    ``monitors`` is what the latest ``open_source`` found.
    """

    @property
    def monitors(self) -> list[Monitor]: ...

    @property
    def selected(self) -> int | None: ...

    def select(self, choice: int | None) -> None:
        """Capture this monitor (``ALL_MONITORS``: all of them) from the next
        ``open_source`` on.

        Raises:
            MonitorMessageError: no such monitor.
        """
        ...


class DisplayCapture:
    """X11: mss for pixels, XDamage for changes, XFixes for the cursor; the area is one
    RandR monitor (the primary until the viewer chooses) or all of them."""

    def __init__(self, display: str | None) -> None:
        self.display = display
        self.monitors: list[Monitor] = []
        self.selected: int | None = None

    def select(self, choice: int | None) -> None:
        region_for(self.monitors, choice)  # raises for an id not listed
        self.selected = choice

    def open_source(self) -> ScreenCapture:
        try:
            self.monitors = x11_monitors(self.display)
        except RuntimeError as exc:
            raise CaptureError(str(exc)) from exc
        # A monitor unplugged since the choice: back to the primary.
        choice = self.selected
        if choice is not None and all(m.id != choice for m in self.monitors) and choice >= 0:
            choice = self.selected = None
        return ScreenCapture(self.display, region_for(self.monitors, choice))

    def open_monitor(self, source: FrameSource, loop: asyncio.AbstractEventLoop) -> ChangeMonitor:
        return open_monitor(self.display, loop)

    def open_cursor(
        self, source: FrameSource, loop: asyncio.AbstractEventLoop, send: Callable[[str], None]
    ) -> CursorWatcher:
        return CursorWatcher(self.display, source.geometry, loop, send)
