"""Capture that reads each window's own pixels, for sessions with the X11 privacy screen.

While the privacy screen is up (``platform/x11/privacy.py``) every top-level window is
redirected off screen (Composite, manual mode) and the monitors show the notice painted on
the Composite overlay window: reading the root window, as mss does, would capture the
notice. This source instead composes the picture itself from the top-level windows' own
contents, bottom to top, the way a compositing manager would paint them, and
``WindowDamage`` watches each window's drawing (a damage object on the root sees nothing
once its children are redirected). Both work the same before the redirection starts, so a
session that asks for the privacy screen uses them from its first frame.

What it does not compose: the root window's own background (black here; the EHR covers it
in practice), windows of a depth other than 24 or 32 bits, and translucency (ARGB windows
are drawn opaque, as without a compositor). Thread-safety: ``ComposedCapture`` belongs to
the encode thread, ``WindowDamage`` to the event loop; each has its own X connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from host_agent.errors import CaptureError
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from mamori_protocol.monitors import Monitor

log = logging.getLogger(__name__)

_DEPTHS = (24, 32)
# GetImage replies are read in bands of rows: python-xlib reads a reply whole into memory.
_BAND_BYTES = 4 * 1024 * 1024


class ComposedCapture:
    """Grabs ``region`` of an X display by composing its top-level windows."""

    fresh_grabs = True  # each grab composes into a new array (FrameSource)

    def __init__(self, display: str | None, region: Monitor) -> None:
        from Xlib import display as xdisplay
        from Xlib import error as xerror

        try:
            self._conn: Any = xdisplay.Display(display)
        except (xerror.DisplayError, OSError) as exc:
            raise CaptureError(f"cannot open the display for capture: {exc}") from exc
        self._root = self._conn.screen().root
        self.geometry = ScreenGeometry(
            region.left, region.top, region.width & ~1, region.height & ~1
        )

    def grab(self, rect: Rect | None = None) -> BGRA:
        """The pixels of ``rect`` (captured-area coordinates; all if None), BGRA."""
        from Xlib import X
        from Xlib import error as xerror

        g = self.geometry
        rect = rect or Rect(0, 0, g.width, g.height)
        left, top = g.left + rect.x, g.top + rect.y
        out = np.zeros((rect.h, rect.w, 4), dtype=np.uint8)
        try:
            children = self._root.query_tree().children
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise CaptureError(f"screen capture failed: {exc}") from exc
        for window in children:  # bottom to top
            try:
                attributes = window.get_attributes()
                if attributes.map_state != X.IsViewable or attributes.win_class != X.InputOutput:
                    continue
                box = window.get_geometry()
                if box.depth not in _DEPTHS:
                    continue
                border = int(box.border_width)
                wx, wy = int(box.x) + border, int(box.y) + border  # the inside's origin
                x0, y0 = max(left, wx), max(top, wy)
                x1 = min(left + rect.w, wx + int(box.width))
                y1 = min(top + rect.h, wy + int(box.height))
                if x1 <= x0 or y1 <= y0:
                    continue
                self._paste(window, out, x0 - wx, y0 - wy, x1 - x0, y1 - y0, x0 - left, y0 - top)
            except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
                continue  # gone or unmapped between the tree and the image: not drawn
            except (xerror.ConnectionClosedError, OSError) as exc:
                raise CaptureError(f"screen capture failed: {exc}") from exc
        out[..., 3] = 255
        return out

    def _paste(
        self, window: Any, out: BGRA, wx: int, wy: int, w: int, h: int, ox: int, oy: int
    ) -> None:
        from Xlib import X

        rows = max(1, _BAND_BYTES // (4 * w))
        for band in range(0, h, rows):
            bh = min(rows, h - band)
            image = window.get_image(wx, wy + band, w, bh, X.ZPixmap, 0xFFFFFFFF)
            data = np.frombuffer(image.data, dtype=np.uint8)
            stride = len(data) // bh
            pixels = data.reshape(bh, stride)[:, : 4 * w].reshape(bh, w, 4)
            out[oy + band : oy + band + bh, ox : ox + w] = pixels

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()


class WindowDamage:
    """XDamage on every top-level window (the ``ChangeMonitor`` for ``ComposedCapture``):
    drawing inside a window, and windows appearing, moving or going, in root coordinates."""

    polling = False

    def __init__(self, display: str | None, loop: Any) -> None:
        """Raises:
        RuntimeError: no X connection or no DAMAGE extension."""
        from Xlib import X
        from Xlib import display as xdisplay

        self._conn: Any = xdisplay.Display(display)
        if not self._conn.has_extension("DAMAGE"):
            self._conn.close()
            raise RuntimeError("the X server has no DAMAGE extension")
        self._conn.damage_query_version()
        self._root = self._conn.screen().root
        self._root.change_attributes(event_mask=X.SubstructureNotifyMask)
        self._damages: dict[int, Any] = {}
        for window in self._root.query_tree().children:
            self._watch(window)
        self._conn.sync()
        self._loop = loop
        self._bbox: Rect | None = None
        self._everywhere = False
        self._on_change: Callable[[], None] | None = None
        self.notifications = 0

    def _watch(self, window: Any) -> None:
        from Xlib import error as xerror
        from Xlib.ext import damage

        if window.id in self._damages:
            return
        try:
            self._damages[window.id] = window.damage_create(damage.DamageReportBoundingBox)
        except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
            log.debug("window %x gone before it could be watched", window.id)

    def start(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._fd = self._conn.fileno()
        self._loop.add_reader(self._fd, self._drain)
        self._drain()

    def _drain(self) -> None:
        from Xlib import error as xerror

        try:
            changed = self._collect()
        except (xerror.ConnectionClosedError, OSError):
            self._loop.remove_reader(self._fd)
            log.warning("display connection closed: no more change notifications")
            return
        if changed and self._on_change is not None:
            self._on_change()

    def _collect(self) -> bool:
        from Xlib import X

        changed = False
        while self._conn.pending_events():
            event = self._conn.next_event()
            area = getattr(event, "area", None)
            if area is not None:
                # Damage is in the drawable's coordinates; ``geometry`` places it on the root.
                at = event.drawable_geometry
                rect = Rect(int(area.x) + int(at.x), int(area.y) + int(at.y),
                            int(area.width), int(area.height))  # fmt: skip
                self._bbox = rect if self._bbox is None else self._bbox.union(rect)
            elif event.type == X.CreateNotify:
                self._watch(event.window)
                continue  # nothing shows until it is mapped
            elif event.type in (X.MapNotify, X.UnmapNotify, X.ConfigureNotify,
                                X.DestroyNotify, X.CirculateNotify):  # fmt: skip
                if event.type == X.DestroyNotify:
                    self._damages.pop(event.window.id, None)
                self._everywhere = True  # uncovered areas: look everywhere
            else:
                continue
            changed = True
            self.notifications += 1
        return changed

    def take(self) -> Rect | None:
        from Xlib import error as xerror

        bbox, everywhere = self._bbox, self._everywhere
        self._bbox, self._everywhere = None, False
        for window_id, handle in list(self._damages.items()):
            try:
                self._conn.damage_subtract(handle, 0, 0)
            except xerror.XError:
                self._damages.pop(window_id, None)
        with contextlib.suppress(xerror.XError):
            self._conn.sync()
        self._drain()  # see DamageMonitor.take: what came meanwhile is a new change
        return None if everywhere else bbox

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._conn.fileno())
        try:
            self._conn.close()
        except Exception:
            log.debug("closing the damage connection failed", exc_info=True)
