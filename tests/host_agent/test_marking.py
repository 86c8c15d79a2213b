"""Cheap marking (host_agent.video.marking): the marked frames the pipeline sends are the same
bytes whether the last marked rows are reused or every pixel is blended again.

Two real pipelines (screen_track._Pipeline, x264 included) capture the same screens: the
bench's chart text in a scrolled pane beside a static sidebar and header, with a clock and
edits changing elsewhere, scrolled by various amounts both ways, captured whole or through
a damage rectangle, across a change of minute. One reuses, one blends everything (what the
agent did before); their pictures (BGRA and I420) must be equal after every frame.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bench.pipeline_scroll import page
from host_agent.video import screen_track
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.scheduler import Plan
from host_agent.video.screen_track import Codec, _Pipeline
from host_agent.video.watermark import WatermarkIdentity

pytestmark = pytest.mark.unit

# Not multiples of 16: partial tiles and column blocks at the right and bottom edges.
W, H = 1000, 398
# The pane starts inside a column block and ends on a block's edge (880): the mark moves
# over whole blocks only, the rest of the pane is blended, the sidebars are left as they were.
PANE_X, PANE_W, PANE_Y, PANE_H = 37, 843, 21, 350
IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
NOON_UTC = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)
TEXT = page(PANE_W, 2400)
# A ruler down the pane's right edge, different on every row, so the changed columns of a
# scroll reach the pane's edge.
TEXT[:, -5:, :3] = (np.arange(2400) * 7 % 200)[:, None, None]


class Screen:
    """A screen of chart text scrolled in a pane (or across the whole screen)."""

    def __init__(self, whole: bool) -> None:
        self.whole = whole
        self.top = 600
        self.clock = 0  # a small area that changes by itself, outside the pane
        self.edit = -1  # a row of the pane drawn over (a line being edited), or -1

    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(0, 0, W, H)

    def pixels(self) -> BGRA:
        if self.whole:
            screen = np.ascontiguousarray(page(W, 2400)[self.top : self.top + H])
        else:
            screen = np.full((H, W, 4), (236, 230, 224, 255), dtype=np.uint8)
            screen[:PANE_Y, :, :3] = (90, 60, 30)  # header bar
            screen[PANE_Y : PANE_Y + PANE_H, PANE_X : PANE_X + PANE_W] = TEXT[
                self.top : self.top + PANE_H
            ]
        screen[H - 20 : H - 4, W - 90 : W - 10, :3] = (self.clock * 37) % 256
        if self.edit >= 0:
            y = PANE_Y + self.edit
            screen[y : y + 14, PANE_X + 100 : PANE_X + 300, :3] = (20, 120, 220)
        return screen

    def grab(self, rect: Rect | None = None) -> BGRA:
        r = rect or Rect(0, 0, W, H)
        return np.ascontiguousarray(self.pixels()[r.y : r.y + r.h, r.x : r.x + r.w])

    def close(self) -> None:
        pass


# (rows the content moves up (+) or down (-), clock ticks, edited pane row, capture the pane's
# damage rectangle only, a minute passes).
STEPS = [
    (3, False, -1, False, False),
    (13, True, -1, False, False),
    (45, False, -1, True, False),
    (-20, False, -1, False, False),
    (1, True, 150, False, False),  # scrolled while a line in the middle changed
    (67, False, -1, True, False),
    (0, True, 90, False, False),  # no scroll: an edit and the clock
    (33, False, -1, False, True),  # a new minute: the mark's text changes everywhere
    (-5, True, -1, True, False),
    (140, False, -1, False, False),
    (0, False, -1, False, False),  # nothing changed
]


@pytest.mark.parametrize("whole", [False, True], ids=["pane", "whole-screen"])
def test_reused_marks_are_the_bytes_a_full_blend_gives(
    whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [NOON_UTC]
    monkeypatch.setattr(screen_track, "_utc_now", lambda: clock[0])
    screen = Screen(whole)
    cheap = _Pipeline(lambda: screen, 60, 8_000_000, IDENTITY)
    full = _Pipeline(lambda: screen, 60, 8_000_000, IDENTITY, reuse_marks=False)
    key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
    capture = Plan(at=0.0, capture=True, refine=False, keyframe=False)
    for pipeline in (cheap, full):
        pipeline.produce(Codec.H264, key, None, 0, 8_000_000)
    pane = Rect(PANE_X, PANE_Y, PANE_W, PANE_H)
    scrolls = 0
    for i, (dy, tick, edit, damaged, minute) in enumerate(STEPS, start=1):
        screen.top += dy
        screen.clock += tick
        screen.edit = edit
        if minute:
            clock[0] += dt.timedelta(minutes=1)
        region = pane if damaged and not tick else None
        for pipeline in (cheap, full):
            pipeline.produce(Codec.H264, capture, region, i * 1500, 8_000_000)
        scrolls += cheap.scroll is not None
        assert (cheap.scroll is None) == (full.scroll is None)
        np.testing.assert_array_equal(cheap.picture.bgra, full.picture.bgra, err_msg=f"step {i}")
        for plane in ("_y", "_u", "_v"):
            np.testing.assert_array_equal(
                getattr(cheap.picture, plane), getattr(full.picture, plane), err_msg=f"step {i}"
            )
    # The comparison covered the cheap path: scrolls found, rows reused, fewer blended.
    assert scrolls >= 7
    assert full.marker.rows_reused == 0
    assert cheap.marker.rows_reused > 5 * PANE_H
    assert cheap.marker.rows_blended < full.marker.rows_blended / 2
    assert cheap.watermark is not None
    assert cheap.watermark.renders == 2
    cheap.close()
    full.close()
