"""Where the screen may have changed: XDamage on the root window, or plain polling.

The agent captures only after the X server reports drawing (``DamageMonitor``); on a static
screen it therefore grabs nothing at all. The monitor's X connection is read from the asyncio
event loop (``loop.add_reader``): notifications are a few dozen bytes, and waking the capture
from the loop is what lets a key press be captured at once instead of at the next tick.

Without the DAMAGE extension (or without python-xlib), ``PollingMonitor`` says "maybe
changed, anywhere" at every opportunity, and the pixel comparison in ``change_detection``
decides; the cost is one grab per frame interval.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from host_agent.video.change_detection import Rect

log = logging.getLogger(__name__)


class ChangeMonitor(Protocol):
    """Tells the capture loop when and where to look."""

    @property
    def polling(self) -> bool:
        """True when there are no change notifications: every capture slot must look."""
        ...

    def start(self, on_change: Callable[[], None]) -> None:
        """Begin reporting; ``on_change`` runs on the event loop after new drawing."""
        ...

    def take(self) -> Rect | None:
        """Forget the damage so far and return its bounding box (None: look everywhere).

        Called just before a capture; drawing after this call is reported again.
        """
        ...

    def close(self) -> None: ...


class PollingMonitor:
    """No notifications: the capture compares pixels every time it is allowed to."""

    polling = True

    def start(self, on_change: Callable[[], None]) -> None:
        pass

    def take(self) -> Rect | None:
        return None

    def close(self) -> None:
        pass


class DamageMonitor:
    """XDamage (bounding-box level) on the root window of an X display."""

    polling = False

    def __init__(self, display_name: str | None, loop: Any) -> None:
        """Connect and create the damage object.

        Raises:
            RuntimeError: no X connection or no DAMAGE extension (use ``PollingMonitor``).
        """
        from Xlib import display as xdisplay
        from Xlib.ext import damage

        self._conn = xdisplay.Display(display_name)
        if not self._conn.has_extension("DAMAGE"):
            self._conn.close()
            raise RuntimeError("the X server has no DAMAGE extension")
        self._conn.damage_query_version()
        root = self._conn.screen().root
        # Bounding-box level: one event per growth of the damaged area, not one per drawing
        # request (a page of text is hundreds of glyph requests).
        self._damage = root.damage_create(damage.DamageReportBoundingBox)
        self._conn.sync()
        self._loop = loop
        # Set when the X server closed this connection: from then on every slot looks
        # (the track reads ``polling`` before planning), as with no XDamage at all.
        self.polling = False
        self._bbox: Rect | None = None
        self._on_change: Callable[[], None] | None = None
        self.notifications = 0

    def start(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._fd = self._conn.fileno()
        self._loop.add_reader(self._fd, self._drain)
        self._drain()

    def _drain(self) -> None:
        from Xlib import error as xerror  # python-xlib is imported only where X is used

        try:
            changed = self._collect()
        except (xerror.ConnectionClosedError, OSError):
            self._lost()
            return
        if changed and self._on_change is not None:
            self._on_change()

    def _collect(self) -> bool:
        changed = False
        while self._conn.pending_events():
            event = self._conn.next_event()
            area = getattr(event, "area", None)
            if area is None:
                continue
            rect = Rect(int(area.x), int(area.y), int(area.width), int(area.height))
            self._bbox = rect if self._bbox is None else self._bbox.union(rect)
            changed = True
            self.notifications += 1
        return changed

    def _lost(self) -> None:
        """The X server closed this connection (seen on the loaded test machine a second
        into a session, the agent's other X connections with it, cause unknown): poll
        instead. Before, ``take`` raised into aiortc's sender loop, which ended: the
        stream stood still for the rest of the session (the 23-30 s stalls at 5 % loss)."""
        if self.polling:
            return
        self.polling = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._fd)
        log.warning("display connection closed: no more change notifications, polling")
        if self._on_change is not None:
            self._on_change()  # wake the capture loop: it must start looking now

    def take(self) -> Rect | None:
        from Xlib import error as xerror

        if self.polling:
            return None
        bbox, self._bbox = self._bbox, None
        # Empty the server's damage region and wait for it: drawing handled after this
        # point is reported again, so nothing drawn between here and the grab is missed.
        try:
            self._conn.damage_subtract(self._damage, 0, 0)
            self._conn.sync()
        except (xerror.ConnectionClosedError, OSError):
            self._lost()
            return None
        # Notifications read while waiting for the reply (the socket may not stay readable
        # for them) may be of drawing after the subtract: that damage is in the server's
        # region again, and with bounding-box reports more drawing inside it would raise no
        # new notification. So they count as a new change: another capture follows (it
        # finds nothing new if this grab already saw it).
        self._drain()
        return bbox

    def close(self) -> None:
        from Xlib import error as xerror

        # Not ``self._conn.fileno()``: on a connection the server closed it raises.
        with contextlib.suppress(ValueError, OSError, AttributeError, xerror.ConnectionClosedError):
            self._loop.remove_reader(self._fd)
        try:
            self._conn.close()
        except Exception:  # the display may already be gone
            log.debug("closing the damage connection failed", exc_info=True)


def open_monitor(display_name: str | None, loop: Any) -> ChangeMonitor:
    """XDamage when the display offers it, else polling (logged once)."""
    try:
        return DamageMonitor(display_name, loop)
    except Exception as exc:  # no python-xlib, no display, no extension
        log.warning("no XDamage (%s): comparing pixels at every frame slot instead", exc)
        return PollingMonitor()
