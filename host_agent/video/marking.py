"""Each captured rectangle, scroll-checked on its unmarked pixels, then marked.

A sideways pan is found and followed the same way (``Scroll.dx``, ``Watermark.pan``).

Scroll detection (``scroll.py``) must compare unmarked pixels (a fixed mark would hide the
move), so the unmarked pixels last captured are kept beside the marked picture. A scroll
found there moves the mark with the content (``Watermark.shift``), then the capture is
marked by ``Watermark.blend_into``, which touches only the mark's own pixels (~2.5 % of the
screen), so marking a whole scrolled 720p frame costs ~0.5 ms.

Why no longer reuse the last marked rows: this module used to copy the rows a scroll moved
from the last marked picture, after checking them exactly against the last capture, and
blend only the rest, because blending a whole frame (a dense mask built and scanned per
frame) cost ~5 ms at 720p. With the sparse blend, the check and the copy (two passes over
the frame's memory) cost more than blending everything: measured in the same runs, the
capture's own work went from 4.1-4.9 to 3.7-3.9 ms a scrolled 720p frame (mark off:
2.6-2.8). Blending everything is also what a change of minute needs, with no separate path.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.motion_search import within_reach
from host_agent.video.scroll import Scroll, detect_scroll
from host_agent.video.watermark import Watermark


class Marker:
    """Finds scrolls in captures and burns the watermark (if any) into them."""

    def __init__(self, watermark: Watermark | None, width: int, height: int) -> None:
        self.watermark = watermark
        # The unmarked pixels last captured (with no watermark the picture holds them).
        self._raw: BGRA | None = (
            np.zeros((height, width, 4), dtype=np.uint8) if watermark is not None else None
        )
        self.scroll: Scroll | None = None  # found in the last capture
        self.scrolls = 0
        # The last move found was a pan: the next capture tries columns first (a pan
        # lasts many frames, and the rows' vote it always fails cost ~4 ms at 1080p).
        self.panning = False

    def take(
        self,
        rect: Rect,
        pixels: BGRA,
        picture: BGRA,
        now: dt.datetime,
        owned: bool = False,
        spare: BGRA | None = None,
    ) -> BGRA:
        """``pixels`` just grabbed at ``rect``, marked; ``picture`` is the whole picture as
        last captured (marked, if there is a watermark), read only. ``owned``: ``pixels``
        is a new array nobody else holds (``FrameSource.fresh_grabs``), marked in place
        rather than copied (a 720p copy is ~0.3 ms of every scrolled frame). ``spare``: for
        a grab of the whole screen, a buffer of the picture's (``ScreenPicture.spare_for``)
        the marked pixels are written to instead, and then an owned grab is kept, unmarked,
        as the pixels for the next scroll detection: one copy of the screen, not two."""
        raw = picture if self._raw is None else self._raw
        old = raw[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
        local = detect_scroll(old, pixels, columns_first=self.panning)
        self.scroll = None
        if local is not None:
            self.scrolls += 1
            self.panning = local.dx != 0
            self.scroll = Scroll(
                local.x + rect.x, local.y + rect.y, local.w, local.h, local.dy,
                local.matched_rows, local.dx,
            )  # fmt: skip
        mark = self.watermark
        if mark is None:
            return pixels
        found = self.scroll
        # Moved with the content only where x264 can follow the move: beyond its search
        # (a page jump: Page Down, the glass's pages) the content is coded anew anyway, and
        # a mark left in place is the same pixels as before over the page's background
        # (the glass's pages1: a moved mark cost 1.35x the unmarked bytes per switch).
        if found is not None and within_reach(found.size):
            mark.shift(found.x, found.y, found.w, found.h, found.dy)
            mark.pan(found.x, found.y, found.w, found.h, found.dx)
        if spare is not None and spare.shape == pixels.shape:
            spare[...] = pixels
            ours = owned and pixels.flags.writeable and pixels.flags.c_contiguous
            if ours and pixels.shape == raw.shape:
                self._raw = pixels  # ours alone: kept as it is, never marked
            else:
                old[...] = pixels
            mark.prepare(now)
            mark.blend_into(spare, rect.x, rect.y)
            return spare
        old[...] = pixels  # before marking: ``pixels`` may be marked in place
        if owned and pixels.flags.writeable and pixels.flags.c_contiguous:
            mark.prepare(now)
            mark.blend_into(pixels, rect.x, rect.y)
            return pixels
        return mark.apply_rect(pixels, rect.x, rect.y, now)
