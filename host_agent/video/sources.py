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
from typing import Protocol

from host_agent.video.capture import ScreenCapture, ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.cursor import CursorWatcher
from host_agent.video.damage import ChangeMonitor, open_monitor


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


class DisplayCapture:
    """X11: mss for pixels, XDamage for changes, XFixes for the cursor."""

    def __init__(self, display: str | None) -> None:
        self.display = display

    def open_source(self) -> ScreenCapture:
        return ScreenCapture(self.display)

    def open_monitor(self, source: FrameSource, loop: asyncio.AbstractEventLoop) -> ChangeMonitor:
        return open_monitor(self.display, loop)

    def open_cursor(
        self, source: FrameSource, loop: asyncio.AbstractEventLoop, send: Callable[[str], None]
    ) -> CursorWatcher:
        return CursorWatcher(self.display, source.geometry, loop, send)
