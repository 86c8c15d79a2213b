"""Each captured rectangle, scroll-checked on its unmarked pixels and marked cheaply.

Scroll detection (``scroll.py``) must compare unmarked pixels (a fixed mark would hide the
move), so the unmarked pixels last captured are kept beside the marked picture.

Why marking reuses the last marked picture: blending the mark into every pixel of a scrolled
720p frame cost ~5 ms of the encode thread (a quarter to a third of the pipeline's time per
frame, most of what the mark cost the frame rate on a 2-core machine). Most marked pixels are known
without blending, exactly:

- a row whose unmarked pixels did not change, outside a scrolled band (where the mark does
  not move), is the last marked row;
- inside a scrolled band the mark moves with the content (``Watermark.shift``), so over the
  column blocks it moved, a row whose unmarked pixels equal those ``dy`` rows away in the
  last capture (compared exactly, not by signature) is the last marked row ``dy`` away.
  Outside the band's changed columns nothing changed and the mark stayed.

Only the rest is blended: rows the scroll exposed, rows changed otherwise, the partial
column blocks at a pane's edges. The bytes are those a blend of everything gives
(``tests/host_agent/test_marking.py`` runs both through the pipeline on the same frames).
After the mark's text changes (a new minute) or on the first capture, everything is blended.

This holds because the picture is only ever written from ``take``'s output: it is the
marked form of the unmarked pixels kept here, with the mark's offsets as they were.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.scroll import Scroll, changed_pixels, detect_scroll
from host_agent.video.watermark import Watermark

Rows = npt.NDArray[np.bool_]


def _runs(rows: Rows) -> list[tuple[int, int]]:
    """[start, end) of each run of True in ``rows``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rows.view(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class Marker:
    """Finds scrolls in captures and burns the watermark (if any) into them.

    ``reuse=False`` blends every pixel of every capture (the reference the reuse must equal,
    and what the agent did before).
    """

    def __init__(
        self, watermark: Watermark | None, width: int, height: int, reuse: bool = True
    ) -> None:
        self.watermark = watermark
        self.reuse = reuse
        # The unmarked pixels last captured (with no watermark the picture holds them).
        self._raw: BGRA | None = (
            np.zeros((height, width, 4), dtype=np.uint8) if watermark is not None else None
        )
        # The picture holds marked pixels of the current text (false until the first mark).
        self._marked = False
        self.scroll: Scroll | None = None  # found in the last capture
        self.scrolls = 0
        # Rows blended and rows copied from the last picture, for tests and the bench.
        self.rows_blended = 0
        self.rows_reused = 0

    def take(self, rect: Rect, pixels: BGRA, picture: BGRA, now: dt.datetime) -> BGRA:
        """``pixels`` just grabbed at ``rect``, marked; ``picture`` is the whole picture as
        last captured (marked, if there is a watermark), read only."""
        raw = picture if self._raw is None else self._raw
        old = raw[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
        diff = changed_pixels(old, pixels)
        local = detect_scroll(old, pixels, diff=diff)
        self.scroll = None
        if local is not None:
            self.scrolls += 1
            self.scroll = Scroll(
                local.x + rect.x, local.y + rect.y, local.w, local.h, local.dy,
                local.matched_rows,
            )  # fmt: skip
        mark = self.watermark
        if mark is None:
            return pixels
        found = self.scroll
        if found is not None:
            mark.shift(found.x, found.y, found.w, found.h, found.dy)
        if self.reuse and self._marked and not mark.needs_render(now):
            previous = picture[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
            out = self._mark_reusing(mark, rect, pixels, old, previous, diff, local)
        else:
            out = mark.apply_rect(pixels, rect.x, rect.y, now)
            self.rows_blended += rect.h
        old[...] = pixels
        self._marked = True
        return out

    def _mark_reusing(
        self,
        mark: Watermark,
        rect: Rect,
        pixels: BGRA,
        old: BGRA,
        previous: BGRA,
        diff: npt.NDArray[np.bool_],
        scroll: Scroll | None,
    ) -> BGRA:
        """The marked rectangle: the last marked pixels where they are known to be what a
        blend would give (see the module's docstring), blended elsewhere."""
        # Every row is filled once: from the last marked picture at its place (unchanged),
        # from dy rows away (moved with the mark), or from the capture, then blended.
        out = np.empty_like(pixels)
        blend: Rows = np.asarray(diff.any(axis=1), dtype=np.bool_)
        moved = np.zeros(rect.h, dtype=np.bool_)
        c0, c1 = mark.moved_columns(rect.x + scroll.x, scroll.w) if scroll else (0, 0)
        c0, c1 = c0 - rect.x, c1 - rect.x  # the rectangle's columns from here on
        if scroll is not None and c1 > c0:
            top, bottom, dy = scroll.y, scroll.y + scroll.h, scroll.dy
            # Rows of the band whose source row (r - dy) lies in the band.
            r0, r1 = max(top, top + dy), min(bottom, bottom + dy)
            if r1 > r0:
                new32 = pixels.view(np.uint32)[r0:r1, c0:c1, 0]
                old32 = old.view(np.uint32)[r0 - dy : r1 - dy, c0:c1, 0]
                moved[r0:r1] = (new32 == old32).all(axis=1)
            # The band's other rows: their mark moved, their content did not come along.
            blend[top:bottom] = ~moved[top:bottom]
            for a, b in _runs(moved):
                # Whole rows first (one contiguous copy is faster than three strided ones),
                # then the columns outside the moved blocks from where they were.
                out[a:b] = previous[a - dy : b - dy]
                out[a:b, :c0] = previous[a:b, :c0]
                out[a:b, c1:] = previous[a:b, c1:]
            # Partial column blocks at the band's edges: content moved, the mark did not.
            for s0, s1 in ((scroll.x, c0), (c1, scroll.x + scroll.w)):
                if s1 > s0:
                    strip = np.ascontiguousarray(pixels[top:bottom, s0:s1])
                    mark.blend_into(strip, rect.x + s0, rect.y + top)
                    out[top:bottom, s0:s1] = strip
            self.rows_reused += int(moved.sum())
        for a, b in _runs(~blend & ~moved):
            out[a:b] = previous[a:b]
        for a, b in _runs(blend):
            out[a:b] = pixels[a:b]
            mark.blend_into(out[a:b], rect.x, rect.y + a)
        self.rows_blended += int(blend.sum())
        return out
