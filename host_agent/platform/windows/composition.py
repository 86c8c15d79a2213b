"""All monitors as one desktop on Windows: one Desktop Duplication per output, composed.

Desktop Duplication duplicates one output (``DuplicateOutput``). "All monitors as one
desktop" (``ALL_MONITORS``) is therefore one ``DuplicationCapture`` per monitor, each with
its own shadow, dirty and move rects, ACCESS_LOST recreation and GDI fallback, seen by the
pipeline as one capture of the union rectangle (``mamori_protocol.monitors.bounding_box``,
in virtual-desktop physical pixels: the process is Per-Monitor-V2 aware, so monitors of
different scale factors sit side by side at their real sizes):

- ``grab`` pastes each monitor's shadow at its place in the union; what no monitor covers
  (the gap beside a shorter monitor) is black;
- damage and moved rectangles of each monitor are offset into the union, so the pipeline
  looks only where a monitor changed;
- the pointer position of the monitor it is on is offset into the union. Each duplication
  reports the pointer; only one sees it visible. As in Microsoft's DesktopDuplication
  sample, an "invisible" report counts only from the monitor that last reported it, so
  the cursor does not blink off when the monitor it left reports after the one it entered.

One thread polls every duplication in turn (their objects stay on the thread that made
them, as for one monitor). With several, each AcquireNextFrame waits at most
``WAIT_PER_OUTPUT_MS``, so a frame on one monitor waits at most that long per other monitor
for an idle one's wait to end; a monitor captured through GDI, or waited for, is polled only
every ``GDI_INTERVAL_S`` (a whole-monitor BitBlt each time is not cheap).

A monitor lost in the middle of a session (unplugged): its duplication freezes its picture
while it looks for the monitor, as with one monitor. If it stays away (``GONE_AFTER_S``) or
comes back elsewhere, its area turns black and the other monitors go on being shown where
they were; the session ends only once no monitor is left. Why not end the session, as with
one monitor, or shrink the picture: the person at the clinic is usually working on the
other monitor (the EHR), and a PACS screen whose cable came loose should not cut the
support call nor make the picture jump and rescale under the supporter's pointer; a black
area is what a switched-off monitor looks like. The next session (or a new choice in the
viewer's switcher) lists the monitors as they are then. A click into the black area is not
sent (``injector.py``: a press on no monitor is dropped), since Windows would move it to
the nearest monitor's edge. If Windows rearranges the other monitors (unplugging the
primary moves the others), their duplications come back "elsewhere" and end too: then no
monitor is left and the session ends, as it must, since the picture is no longer the desk.

Pure: the captures are parameters; the tests run it with the thin module's fakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from host_agent.platform.windows.duplication import (
    GDI_INTERVAL_S,
    DuplicationCapture,
    Mode,
    Update,
)
from host_agent.platform.windows.errors import OutputGone
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from mamori_protocol.monitors import Monitor

log = logging.getLogger(__name__)

WAIT_PER_OUTPUT_MS: Final = 8


@dataclass
class Placed:
    """One monitor's capture and where its picture starts in the union."""

    capture: DuplicationCapture
    x: int  # offset of the monitor's top-left corner in the union
    y: int
    due: float = 0.0  # not polled before (GDI, waiting)
    mode: Mode = Mode.WAITING  # what its last poll said

    def area(self) -> Rect:
        g = self.capture.geometry
        return Rect(self.x, self.y, g.width, g.height)


class ComposedDuplication:
    """The union of several monitors' captures, with ``DuplicationCapture``'s interface."""

    def __init__(
        self,
        captures: Sequence[DuplicationCapture],
        region: Monitor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``region``: the union of the captures' monitors (``region_for(..., ALL)``)."""
        if not captures:
            raise ValueError("no monitor to compose")
        self.geometry = ScreenGeometry(
            region.left, region.top, region.width & ~1, region.height & ~1
        )
        self.placed = [
            Placed(c, c.output.desktop.left - region.left, c.output.desktop.top - region.top)
            for c in captures
        ]
        self._clock = clock
        self._pointer_owner: Placed | None = None

    @property
    def mode(self) -> Mode:
        modes = {p.mode for p in self.placed}
        for mode in (Mode.DUPLICATION, Mode.GDI, Mode.WAITING):
            if mode in modes:
                return mode
        return Mode.GONE

    # -- the capture thread ----------------------------------------------------------------

    def poll(self, timeout_ms: int) -> Update:
        """Poll every monitor once (see the module) and report in union coordinates.

        Raises:
            CaptureError: one monitor's duplication failed beyond repair (as for one).
        """
        live = [p for p in self.placed if p.mode is not Mode.GONE]
        if not live:
            return Update(Mode.GONE)
        wait = timeout_ms if len(self.placed) == 1 else min(timeout_ms, WAIT_PER_OUTPUT_MS)
        damage: list[Rect] = []
        moved: list[Rect] = []
        position: tuple[int, int, bool] | None = None
        shape = None
        recreated = False
        for placed in live:
            now = self._clock()
            if now < placed.due:
                continue
            update = placed.capture.poll(wait)
            placed.mode = update.mode
            placed.due = now + GDI_INTERVAL_S if update.mode in (Mode.GDI, Mode.WAITING) else 0
            recreated = recreated or update.recreated
            if update.mode is Mode.GONE:
                log.warning(
                    "monitor %s is gone: its area of the desktop is black now",
                    placed.capture.output.device_name,
                )
                damage.append(placed.area())
                if self._pointer_owner is placed:
                    self._pointer_owner = None
                continue
            damage += [self._offset(r, placed) for r in update.damage]
            moved += [self._offset(r, placed) for r in update.moved]
            shape = update.pointer_shape or shape
            if update.pointer_position is not None:
                x, y, visible = update.pointer_position
                if visible or self._pointer_owner is None or self._pointer_owner is placed:
                    self._pointer_owner = placed
                    position = (x + placed.x, y + placed.y, visible)
        mode = self.mode
        if mode is Mode.GONE:
            log.warning("every monitor of the desktop is gone: the session must start again")
        return Update(
            mode,
            tuple(damage),
            tuple(moved),
            pointer_position=position,
            pointer_shape=shape,
            recreated=recreated,
        )

    def close(self) -> None:
        for placed in self.placed:
            placed.capture.close()

    # -- other threads ---------------------------------------------------------------------

    def take(self) -> Rect | None:
        """The bounding box, in the union, of every monitor's damage since the last take."""
        damage: Rect | None = None
        for placed in self.placed:
            rect = placed.capture.take()
            if rect is not None:
                rect = self._offset(rect, placed)
                damage = rect if damage is None else damage.union(rect)
        return damage

    def grab(self, rect: Rect | None = None) -> BGRA:
        """The union's pixels in ``rect``: each monitor's shadow at its place, black
        elsewhere.

        Raises:
            OutputGone: no monitor is left.
        """
        if self.mode is Mode.GONE:
            raise OutputGone("every monitor is gone: the session must start again")
        g = self.geometry
        rect = rect or Rect(0, 0, g.width, g.height)
        out = np.zeros((rect.h, rect.w, 4), np.uint8)
        out[..., 3] = 255
        for placed in self.placed:
            area = placed.area()
            x0, y0 = max(rect.x, area.x), max(rect.y, area.y)
            x1 = min(rect.x + rect.w, area.x + area.w)
            y1 = min(rect.y + rect.h, area.y + area.h)
            if x1 <= x0 or y1 <= y0:
                continue
            try:
                pixels = placed.capture.grab(Rect(x0 - area.x, y0 - area.y, x1 - x0, y1 - y0))
            except OutputGone:
                continue  # black (see the module), until the capture thread notices
            out[y0 - rect.y : y1 - rect.y, x0 - rect.x : x1 - rect.x] = pixels
        return out

    @staticmethod
    def _offset(rect: Rect, placed: Placed) -> Rect:
        return Rect(rect.x + placed.x, rect.y + placed.y, rect.w, rect.h)
