"""Screen capture with mss: one area (a monitor, or all of them), BGRA, even dimensions.

An ``ScreenCapture`` belongs to the thread that created it: mss keeps an X connection that
must not be shared across threads, so the agent creates it inside its encode thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import mss
import numpy as np
import numpy.typing as npt

from host_agent.errors import CaptureError
from host_agent.video.change_detection import Rect
from mamori_protocol.monitors import Monitor


@dataclass(frozen=True)
class ScreenGeometry:
    """The captured area in the display's coordinates; width and height are even (4:2:0)."""

    left: int
    top: int
    width: int
    height: int


class ScreenCapture:
    """Grabs one area of an X display: ``region`` (a monitor, or the bounding box of all
    of them, from ``video/monitors.py``), else mss' first monitor."""

    # mss copies every shot into a new bytearray: the array is the caller's (FrameSource).
    fresh_grabs = True

    def __init__(self, display: str | None = None, region: Monitor | None = None) -> None:
        try:
            self._mss = mss.MSS(display=display) if display else mss.MSS()
            monitors = self._mss.monitors
        except Exception as exc:  # mss raises its own ScreenShotError and Xlib errors
            raise CaptureError(f"cannot open the display for capture: {exc}") from exc
        monitor = monitors[1] if len(monitors) > 1 else monitors[0]
        if region is not None:
            monitor = {"left": region.left, "top": region.top, "width": region.width,
                       "height": region.height}  # fmt: skip
        # H.264 4:2:0 needs even dimensions; drop a last odd row/column rather than scale.
        self.geometry = ScreenGeometry(
            left=int(monitor["left"]),
            top=int(monitor["top"]),
            width=int(monitor["width"]) & ~1,
            height=int(monitor["height"]) & ~1,
        )
        self._region = {
            "left": self.geometry.left,
            "top": self.geometry.top,
            "width": self.geometry.width,
            "height": self.geometry.height,
        }

    def grab(self, rect: Rect | None = None) -> npt.NDArray[np.uint8]:
        """The pixels of ``rect`` (in captured-area coordinates; all of it if None) as a
        (height, width, 4) BGRA array (no copy of mss's buffer)."""
        region = self._region
        if rect is not None:
            region = {
                "left": self.geometry.left + rect.x,
                "top": self.geometry.top + rect.y,
                "width": rect.w,
                "height": rect.h,
            }
        try:
            shot = self._mss.grab(region)
        except Exception as exc:
            raise CaptureError(f"screen capture failed: {exc}") from exc
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def close(self) -> None:
        self._mss.close()
