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
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from host_agent.errors import CaptureError
from host_agent.video.capture import ScreenCapture, ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.composed import ComposedCapture, WindowDamage
from host_agent.video.cursor import CursorWatcher
from host_agent.video.damage import ChangeMonitor, PollingMonitor, open_monitor
from host_agent.video.monitors import x11_monitors
from mamori_protocol.monitors import ALL_MONITORS, Monitor, region_for

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """The captured area's pixels; belongs to the thread that opened it.

    A source whose ``grab`` returns a new array each time, held by nobody else afterwards,
    says so with a ``fresh_grabs = True`` attribute: the pipeline then burns the watermark
    into that array in place instead of into a copy (``Marker.take``). Without it (a view
    of a buffer the source keeps, as the tests' pages are) the array is never written.
    """

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


class OffsetMonitor:
    """A ``ChangeMonitor`` of the whole display seen from a captured area that does not
    start at 0,0 (a monitor right of the first): damage moves into the area's coordinates."""

    def __init__(self, inner: ChangeMonitor, left: int, top: int) -> None:
        self._inner = inner
        self._left = left
        self._top = top

    @property
    def polling(self) -> bool:
        return self._inner.polling

    def start(self, on_change: Callable[[], None]) -> None:
        self._inner.start(on_change)

    def take(self) -> Rect | None:
        rect = self._inner.take()
        if rect is None:
            return None
        return Rect(rect.x - self._left, rect.y - self._top, rect.w, rect.h)

    def close(self) -> None:
        self._inner.close()


class DisplayCapture:
    """X11: mss for pixels, XDamage for changes, XFixes for the cursor; the area is one
    RandR monitor (the primary until the viewer chooses) or all of them.

    ``composed``: the session shows the privacy screen (``platform/x11/privacy.py``), so
    pixels come from the windows themselves and changes from each window's damage
    (``composed.py``), not from the root window the room sees.
    """

    def __init__(self, display: str | None, composed: bool = False) -> None:
        self.display = display
        self.composed = composed
        self.monitors: list[Monitor] = []
        self.selected: int | None = None
        self._chosen: Monitor | None = None

    def select(self, choice: int | None) -> None:
        region = region_for(self.monitors, choice)  # raises for an id not listed
        self.selected = choice
        # Remembered by place: ids are positions, and a new layout may give this one's away.
        self._chosen = None if choice is None or choice == ALL_MONITORS else region

    def open_source(self) -> ScreenCapture | ComposedCapture:
        try:
            self.monitors = x11_monitors(self.display)
        except RuntimeError as exc:
            raise CaptureError(str(exc)) from exc
        if self._chosen is not None:
            # The chosen monitor gone or moved since the choice: back to the primary.
            same = [m.id for m in self.monitors if _same_area(m, self._chosen)]
            self.selected = same[0] if same else None
            if not same:
                self._chosen = None
        region = region_for(self.monitors, self.selected)
        if self.composed:
            return ComposedCapture(self.display, region)
        return ScreenCapture(self.display, region)

    def open_monitor(self, source: FrameSource, loop: asyncio.AbstractEventLoop) -> ChangeMonitor:
        monitor: ChangeMonitor
        if self.composed:
            try:
                monitor = WindowDamage(self.display, loop)
            except Exception as exc:  # no DAMAGE: compare pixels instead
                log.warning("no XDamage (%s): comparing pixels at every frame slot", exc)
                monitor = PollingMonitor()
        else:
            monitor = open_monitor(self.display, loop)
        g = source.geometry
        return OffsetMonitor(monitor, g.left, g.top) if g.left or g.top else monitor

    def open_cursor(
        self, source: FrameSource, loop: asyncio.AbstractEventLoop, send: Callable[[str], None]
    ) -> CursorWatcher:
        return CursorWatcher(self.display, source.geometry, loop, send)


def _same_area(a: Monitor, b: Monitor) -> bool:
    return (a.left, a.top, a.width, a.height) == (b.left, b.top, b.width, b.height)
