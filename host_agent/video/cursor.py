"""The host's mouse cursor, sent beside the video: position and shape, never in the pixels.

X screen capture does not contain the cursor, and drawing it into the video would make every
pointer movement a new frame. Instead the agent sends, on the ``input`` data channel's
host-to-browser direction, two closed message forms the viewer validates and draws over the
video (``web_client/core/cursor.js``; keep the two in step)::

    {"t":"cursor","x":640,"y":360,"v":true}     position in captured-screen pixels; v: on screen
    {"t":"shape","id":7,"w":24,"h":24,"hx":4,"hy":4,"rgba":"<base64>"}
                                               w*h*4 bytes of straight-alpha RGBA, w, h <= 64

Shapes come from XFixes (a notification when the cursor image changes, then GetCursorImage);
positions from polling QueryPointer while a viewer is connected (the core protocol has no
motion events for a pointer moved by someone else), sent only when they change. Polling is
paced by ``PollPace``: ``POLL_HZ`` while the pointer moves, ``REST_POLL_S`` once it has been
still for ``STILL_AFTER_S`` (at 60 Hz the round trips through python-xlib were the agent's
largest CPU cost on a still screen: bench/cpu_at_rest.py). Numbers and base64 only: nothing
the host sends here is ever shown as text.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from host_agent.video.capture import ScreenGeometry

log = logging.getLogger(__name__)

MAX_CURSOR: Final = 64
POLL_HZ: Final = 60
# A still pointer is looked at this often: its first move shows at most this much later,
# the moves after it at POLL_HZ.
REST_POLL_S: Final = 0.2
STILL_AFTER_S: Final = 1.0
# XFixesDisplayCursorNotifyMask
_DISPLAY_CURSOR_NOTIFY_MASK: Final = 1


def position_message(x: int, y: int, visible: bool) -> str:
    return json.dumps({"t": "cursor", "x": x, "y": y, "v": visible}, separators=(",", ":"))


def shape_message(
    serial: int, width: int, height: int, hot_x: int, hot_y: int, argb: list[int]
) -> str:
    """A shape message from XFixes' premultiplied ARGB32 pixels, cropped to 64x64 around the
    hotspot when larger.

    Raises:
        ValueError: the pixel count does not match the size.
    """
    if len(argb) != width * height or width < 1 or height < 1:
        raise ValueError("cursor image size mismatch")
    pixels = np.asarray(argb, dtype=np.uint32).reshape(height, width)
    a = (pixels >> 24) & 0xFF
    rgb = [(pixels >> shift) & 0xFF for shift in (16, 8, 0)]
    # Premultiplied -> straight alpha, as canvas ImageData expects.
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = [np.where(a > 0, np.minimum(255, c * 255 // np.maximum(a, 1)), 0) for c in rgb]
    rgba = np.stack([*straight, a], axis=-1).astype(np.uint8)
    return rgba_shape_message(serial, rgba, hot_x, hot_y)


def rgba_shape_message(serial: int, rgba: npt.NDArray[np.uint8], hot_x: int, hot_y: int) -> str:
    """A shape message from straight-alpha RGBA pixels (height, width, 4), cropped to 64x64
    around the hotspot when larger (other systems' cursors, e.g. Windows' through DXGI).

    Raises:
        ValueError: not a non-empty (height, width, 4) array.
    """
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[0] < 1 or rgba.shape[1] < 1:
        raise ValueError("cursor image size mismatch")
    height, width = rgba.shape[:2]
    left = min(max(0, hot_x - MAX_CURSOR // 2), max(0, width - MAX_CURSOR))
    top = min(max(0, hot_y - MAX_CURSOR // 2), max(0, height - MAX_CURSOR))
    rgba = rgba[top : top + MAX_CURSOR, left : left + MAX_CURSOR]
    hot_x, hot_y = hot_x - left, hot_y - top
    height, width = rgba.shape[:2]
    return json.dumps(
        {
            "t": "shape",
            "id": serial & 0x7FFFFFFF,
            "w": int(width),
            "h": int(height),
            "hx": int(min(max(hot_x, 0), width - 1)),
            "hy": int(min(max(hot_y, 0), height - 1)),
            "rgba": base64.b64encode(np.ascontiguousarray(rgba).tobytes()).decode("ascii"),
        },
        separators=(",", ":"),
    )


@dataclass
class PollPace:
    """When to look at the pointer next, sans I/O: fast while it moves, slow once still."""

    moved_at: float = -math.inf

    def next_delay(self, now: float, moved: bool) -> float:
        """Seconds until the next poll, after a poll at ``now`` that found it ``moved``."""
        if moved:
            self.moved_at = now
        return 1 / POLL_HZ if now - self.moved_at < STILL_AFTER_S else REST_POLL_S


class CursorWatcher:
    """Sends the cursor's shape and position through ``send`` until ``close``."""

    def __init__(
        self, display_name: str | None, geometry: ScreenGeometry, loop: Any,
        send: Callable[[str], None],
    ) -> None:  # fmt: skip
        """Connect to the display.

        Raises:
            RuntimeError: no X connection or no XFixes extension.
        """
        from Xlib import display as xdisplay

        self._conn = xdisplay.Display(display_name)
        if not self._conn.has_extension("XFIXES"):
            self._conn.close()
            raise RuntimeError("the X server has no XFIXES extension")
        self._conn.xfixes_query_version()
        self._root = self._conn.screen().root
        self._geometry = geometry
        self._loop = loop
        self._send = send
        self._last_position: tuple[int, int, bool] | None = None
        self._timer: Any = None
        self._pace = PollPace()
        self.next_poll_s = 1 / POLL_HZ  # the delay the last poll chose (tests read it)
        self.polls = 0
        self._closed = False
        self.shapes_sent = 0
        self.positions_sent = 0

    def start(self) -> None:
        self._conn.xfixes_select_cursor_input(self._root, _DISPLAY_CURSOR_NOTIFY_MASK)
        self._conn.sync()
        self._fd = self._conn.fileno()
        self._loop.add_reader(self._fd, self._drain)
        self._send_shape()
        self._poll()

    def _drain(self) -> None:
        from Xlib import error as xerror

        changed = False
        try:
            while self._conn.pending_events():
                event = self._conn.next_event()
                changed = changed or hasattr(event, "cursor_serial")
        except (xerror.ConnectionClosedError, OSError):
            # The server closed this connection: stop watching (positions stay as they
            # were) instead of raising from the event loop's reader.
            self._closed = True
            with contextlib.suppress(ValueError, OSError, AttributeError):
                self._loop.remove_reader(self._fd)
            log.warning("cursor: display connection closed, no more cursor updates")
            return
        if changed:
            self._send_shape()

    def _send_shape(self) -> None:
        try:
            image = self._conn.xfixes_get_cursor_image(self._root)
            message = shape_message(
                image.cursor_serial, image.width, image.height, image.xhot, image.yhot,
                list(image.cursor_image),
            )  # fmt: skip
        except Exception:  # display gone, or an image we cannot use: keep the old shape
            log.debug("cursor shape unavailable", exc_info=True)
            return
        self._send(message)
        self.shapes_sent += 1

    def _poll(self) -> None:
        if self._closed:
            return
        self.polls += 1
        moved = False
        try:
            pointer = self._root.query_pointer()
            g = self._geometry
            x, y = int(pointer.root_x) - g.left, int(pointer.root_y) - g.top
            visible = 0 <= x < g.width and 0 <= y < g.height
            position = (min(max(x, 0), g.width - 1), min(max(y, 0), g.height - 1), visible)
            if position != self._last_position:
                moved = self._last_position is not None
                self._last_position = position
                self._send(position_message(*position))
                self.positions_sent += 1
            # Events may have been read while waiting for the reply.
            self._drain()
        except Exception:
            log.debug("cursor position unavailable", exc_info=True)
        self.next_poll_s = self._pace.next_delay(self._loop.time(), moved)
        self._timer = self._loop.call_later(self.next_poll_s, self._poll)

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._conn.fileno())
        try:
            self._conn.close()
        except Exception:
            log.debug("closing the cursor connection failed", exc_info=True)
