"""Lossless tiles: each block's settle delay (fast after one change, backing off for a block
that keeps changing) and the video's QP-11 refinement waiting for the tiles, or left out
once the viewer says its overlay works (fake time)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from devkit.settled_screen import text_picture
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.encode_pipeline import PENDING_RECHECK_S, Codec, EncodePipeline, Produced
from host_agent.video.encoder import BASE_QP
from host_agent.video.lossless_tiles import (
    HOLD_MAX_S,
    REFINE_FALLBACK_S,
    BlockTracker,
)
from host_agent.video.scheduler import Plan
from host_agent.video.settle_delay import CALM_S, FIRST_S, INHERIT_MAX_S, MAX_S
from mamori_protocol.tile_overlay import (
    TileOverlayMessageError,
    parse_tile_overlay_state,
    tile_overlay_state,
)

pytestmark = pytest.mark.unit

W, H = 320, 200  # 3 x 2 blocks
PICTURE = np.zeros((H, W, 4), dtype=np.uint8)


def at(x: int, y: int) -> np.ndarray:
    """The 16-px tile mask with the tile holding pixel (x, y)."""
    mask = np.zeros((-(-H // 16), W // 16), dtype=np.bool_)
    mask[y // 16, x // 16] = True
    return mask


def sent_between(tracker: BlockTracker, start: float, end: float, step: float = 0.01) -> int:
    """Tiles taken when polled every ``step`` from ``start`` to ``end`` (the sender's loop)."""
    count = 0
    picture = np.zeros((tracker.height, tracker.width, 4), dtype=np.uint8)
    for i in range(round((end - start) / step) + 1):
        count += len(tracker.take(picture, start + i * step, allowance=10**6))
    return count


def test_a_single_change_after_quiet_is_due_after_the_first_delay() -> None:
    tracker = BlockTracker(W, H, generation=1)
    tracker.changed(at(5, 5), now=10.0)
    assert FIRST_S < 0.3  # sooner than the fixed delay it replaces
    assert tracker.next_due() == pytest.approx(10.0 + FIRST_S)
    assert tracker.due(10.0 + FIRST_S - 0.01) == []
    assert len(tracker.take(PICTURE, 10.0 + FIRST_S, allowance=10**6)) == 1


def test_a_page_drawing_in_steps_costs_one_tile_and_no_backoff() -> None:
    tracker = BlockTracker(W, H, generation=1)
    for i in range(6):  # drawn over 250 ms, a step every 50 ms (< the first delay)
        tracker.changed(at(5, 5), now=i * 0.05)
    assert sent_between(tracker, 0.0, 2.0) == 1
    assert tracker.delays.delay[0, 0] == pytest.approx(FIRST_S)


def test_a_clock_backs_off_until_it_costs_no_tiles_and_is_fast_again_after_calm() -> None:
    tracker = BlockTracker(W, H, generation=1)
    sent = []
    for tick in range(30):  # a clock: its block changes every second for 30 s
        tracker.changed(at(200, 150), now=float(tick))
        sent.append(sent_between(tracker, tick, tick + 0.99))
    # 0.12, 0.24, 0.48, 0.96 s: sent after each of the first four ticks, then never.
    assert sent[:4] == [1, 1, 1, 1]
    assert sum(sent[4:]) == 0
    # Backed off past its period (1.92 s), and no further: nothing more was wasted.
    delay = tracker.delays.delay[1, 1]
    assert delay == pytest.approx(FIRST_S * 2**4)
    assert delay <= MAX_S
    # The clock stops: its last picture goes once that delay has passed.
    assert sent_between(tracker, 30.0, 29.0 + delay - 0.02) == 0
    assert sent_between(tracker, 29.0 + delay, 29.0 + delay + 0.05) == 1
    # Quiet for CALM_S (or twice the delay), then one change (a page switch): fast again.
    quiet_until = 29.0 + max(CALM_S, 2 * delay)
    tracker.changed(at(200, 150), now=quiet_until)
    assert tracker.next_due() == pytest.approx(quiet_until + FIRST_S)
    # The other blocks never backed off.
    others = np.ones_like(tracker.dirty)
    others[1, 1] = False
    assert (tracker.delays.delay[others] == FIRST_S).all()


def test_refinement_waits_for_pending_and_recent_tiles_but_not_for_restless_blocks() -> None:
    tracker = BlockTracker(W, H, generation=1)
    tracker.changed(np.ones((13, 20), dtype=np.bool_), now=0.0)
    held, until = tracker.refinement_held(0.05)
    assert held.all()  # pending tiles
    assert until == pytest.approx(HOLD_MAX_S)
    assert len(tracker.take(PICTURE, 0.2, allowance=10**6)) == 6
    held, until = tracker.refinement_held(0.2 + REFINE_FALLBACK_S - 0.01)
    assert held.all()
    assert until == pytest.approx(0.2 + REFINE_FALLBACK_S)
    held, until = tracker.refinement_held(0.2 + REFINE_FALLBACK_S)
    assert not held.any()  # the fallback: the video refines them now
    assert until is None
    # A block backed off to a second or more gets no tile soon: not held.
    for tick in range(6):
        tracker.changed(at(5, 5), now=10.0 + tick)
        sent_between(tracker, 10.0 + tick, 10.99 + tick, step=0.02)
    held, _ = tracker.refinement_held(16.5)
    assert not held[0, 0]
    # A tile that never goes (no channel): held at most HOLD_MAX_S after the change.
    tracker.changed(at(300, 150), now=20.0)
    assert tracker.refinement_held(20.0 + HOLD_MAX_S - 0.01)[0][1, 2]
    assert not tracker.refinement_held(20.0 + HOLD_MAX_S)[0][1, 2]


class Flat:
    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(0, 0, W, H)

    def grab(self, rect: Rect | None = None) -> BGRA:
        r = rect or Rect(0, 0, W, H)
        return np.zeros((r.h, r.w, 4), dtype=np.uint8)

    def close(self) -> None:
        pass


def test_the_pipeline_looks_again_after_the_capture_when_drawing_is_pending() -> None:
    pipeline = EncodePipeline(Flat, 60, 8_000_000)
    try:
        pipeline.tiles = tracker = BlockTracker(W, H, generation=1, settle_s=0.1)
        t0 = time.monotonic() - 1.0
        tracker.captured(at(5, 5), now=t0)
        messages, next_due = pipeline.take_tiles(10**6, pending=True)
        assert messages == []
        assert next_due is not None
        assert next_due >= time.monotonic() + PENDING_RECHECK_S - 0.01  # not a busy loop
        messages, next_due = pipeline.take_tiles(10**6)
        assert len(messages) == 1
        assert next_due is None
    finally:
        pipeline.close()


def test_the_pipeline_leaves_tile_covered_refinement_for_later() -> None:
    pipeline = EncodePipeline(Flat, 60, 8_000_000)
    try:
        settled = np.ones((13, 20), dtype=np.bool_)
        nothing = np.zeros_like(settled)
        plan = Plan(at=0.0, capture=False, refine=True, keyframe=False, refine_mask=settled)
        t0 = time.monotonic()
        # Without tiles: everything settled is refined at once (as before).
        refine, retry = pipeline._refinement(plan, nothing, t0)
        assert refine is not None
        assert refine.all()
        assert retry is None
        pipeline.tiles = tracker = BlockTracker(W, H, generation=1)
        tracker.changed(settled, now=t0)
        tracker.changed(at(5, 5), now=t0 + 0.15)  # block (0, 0) still moving
        tracker.take(PICTURE, t0 + 0.2, allowance=10**6)  # all but block (0, 0) sent
        refine, retry = pipeline._refinement(plan, nothing, t0 + 0.3)
        assert refine is None  # all covered by tiles sent or pending
        assert retry is not None
        assert t0 + 0.3 < retry <= t0 + 0.8
        # After the fallback delay the sent blocks are refined; block (0, 0) still waits.
        refine, retry = pipeline._refinement(plan, nothing, t0 + 0.2 + REFINE_FALLBACK_S)
        assert refine is not None
        assert tracker.dirty.sum() == 1
        assert tracker.dirty[0, 0]
        np.testing.assert_array_equal(refine, tracker.tiles_of(~tracker.dirty, 13, 20))
        assert not refine[:8, :8].any()
    finally:
        pipeline.close()


def test_the_viewers_word_that_its_overlay_works_is_closed_and_parsed() -> None:
    assert tile_overlay_state(True) == '{"t":"tiles","ok":true}'  # as core/tiles.js builds it
    assert parse_tile_overlay_state(tile_overlay_state(True)) is True
    assert parse_tile_overlay_state(tile_overlay_state(False)) is False
    # Not a tiles message: the monitor and input parsers judge these.
    for other in ('{"t":"monitor","id":1}', '{"t":"move","x":1,"y":2}', "not json", b"\x00"):
        assert parse_tile_overlay_state(other) is None
    for bad in ('{"t":"tiles"}', '{"t":"tiles","ok":1}', '{"t":"tiles","ok":true,"x":0}',
                '{"t":"tiles","ok":"yes"}'):  # fmt: skip
        with pytest.raises(TileOverlayMessageError):
            parse_tile_overlay_state(bad)


def test_once_the_overlay_works_shown_blocks_are_never_refined_by_the_video() -> None:
    tracker = BlockTracker(W, H, generation=1)
    tracker.changed(np.ones((13, 20), dtype=np.bool_), now=0.0)
    assert len(tracker.take(PICTURE, 0.2, allowance=10**6)) == 6
    later = 0.2 + HOLD_MAX_S + REFINE_FALLBACK_S
    held, until = tracker.refinement_held(later, overlay_works=True)
    assert held.all()
    assert until == math.inf
    assert not tracker.refinement_held(later, overlay_works=False)[0].any()
    # A block that changes is no longer shown: refined by the video if its tile never goes.
    tracker.changed(at(5, 5), now=later)
    held, _ = tracker.refinement_held(later + HOLD_MAX_S, overlay_works=True)
    assert not held[0, 0]
    assert held.sum() == 5


def test_the_track_passes_the_viewers_word_to_its_pipeline() -> None:
    pipeline = EncodePipeline(Flat, 60, 8_000_000)
    try:
        pipeline.tiles = tracker = BlockTracker(W, H, generation=1)
        t0 = time.monotonic()
        tracker.changed(np.ones((13, 20), dtype=np.bool_), now=t0)
        tracker.take(PICTURE, t0 + 0.2, allowance=10**6)
        plan = Plan(at=0.0, capture=False, refine=True, keyframe=False,
                    refine_mask=np.ones((13, 20), dtype=np.bool_))  # fmt: skip
        nothing = np.zeros((13, 20), dtype=np.bool_)
        fallback = t0 + 0.2 + REFINE_FALLBACK_S
        pipeline.overlay_works = True
        refine, retry = pipeline._refinement(plan, nothing, fallback)
        assert refine is None
        assert retry is not None
        assert retry <= fallback + 0.5  # polled: other tiles may settle meanwhile
        pipeline.overlay_works = False
        refine, _ = pipeline._refinement(plan, nothing, fallback)
        assert refine is not None
        assert refine.all()
    finally:
        pipeline.close()


ROW_W, ROW_H = 640, 128  # five blocks in a row


def spot(x: int, y: int) -> np.ndarray:
    """The 16-px tile mask of a 640x128 screen with the tile holding pixel (x, y)."""
    mask = np.zeros((ROW_H // 16, ROW_W // 16), dtype=np.bool_)
    mask[y // 16, x // 16] = True
    return mask


def typing_along(tracker: BlockTracker, y: int, start: float, keys: int) -> tuple[float, int]:
    """A person typing on one line from x=4: a 9-px glyph every 170 ms (6 a second), each
    key repainting the 16-px tiles under the glyph; returns when the last key came and the
    tiles taken meanwhile (polled as the sender does)."""
    now, sent = start, 0
    for key in range(keys):
        now = start + key * 0.17
        x = 4 + key * 9
        mask = spot(x, y) | spot(x + 8, y)
        tracker.changed(mask, now=now)
        sent += sent_between(tracker, now, now + 0.16)
    return now, sent


def test_typing_that_moves_into_the_next_block_wastes_no_tile_there() -> None:
    # Five blocks in a row: the typing passes through all of them (14 keys a block).
    tracker = BlockTracker(ROW_W, ROW_H, generation=1)
    last, sent = typing_along(tracker, 40, start=1.0, keys=70)
    # The first block's first key went at FIRST_S and was overtaken (the one wasted tile);
    # every next block starts at the delay its neighbour learned: no tile while typed in,
    # one when the typing has moved on.
    assert tracker.delays.backoffs == 1
    assert sent == 1 + 4
    assert sent_between(tracker, last, last + 1.0) == 1  # the last block, once it is quiet
    assert not tracker.dirty.any()


def test_a_small_change_beside_typing_waits_as_long_but_a_page_switch_does_not() -> None:
    tracker = BlockTracker(ROW_W, ROW_H, generation=1)
    last, _ = typing_along(tracker, 40, start=1.0, keys=20)  # in blocks 0 and 1
    typing_delay = float(tracker.delays.delay[0, 1])
    assert typing_delay > FIRST_S
    # A page switch: every block changes whole, also those beside the typing.
    page = np.ones((ROW_H // 16, ROW_W // 16), dtype=np.bool_)
    tracker.changed(page, now=last + 0.1)
    calm = [(0, 3), (0, 4)]  # quiet since the start: back to FIRST_S, not the typing's
    assert all(tracker.delays.delay[b] == pytest.approx(FIRST_S) for b in calm)
    # A small change far from any typing, after calm: FIRST_S.
    alone = BlockTracker(ROW_W, ROW_H, generation=1)
    alone.changed(spot(600, 40), now=5.0)
    assert alone.next_due() == pytest.approx(5.0 + FIRST_S)


def test_a_restless_neighbour_lends_at_most_the_inherited_cap() -> None:
    tracker = BlockTracker(W, H, generation=1)
    for tick in range(8):  # a clock in block (0, 0): backed off to seconds
        tracker.changed(at(5, 5), now=float(tick))
        sent_between(tracker, tick, tick + 0.99)
    assert tracker.delays.delay[0, 0] >= 1.0
    tracker.changed(at(140, 5), now=7.5)  # a one-key edit beside it
    assert tracker.next_due() == pytest.approx(7.5 + INHERIT_MAX_S)


def test_a_blinking_caret_holds_its_blocks_refinement_at_most_hold_max_s() -> None:
    # A caret blinking every 0.53 s (Windows' default): its block backs off to 0.96 s, more
    # than the blink, so it gets no tile while the caret blinks. The video's refinement of
    # the block waits for that tile at most HOLD_MAX_S from when the block went dirty, not
    # from its last blink (which would hold it as long as the caret blinks).
    tracker = BlockTracker(W, H, generation=1)
    blink = 0.53
    for i in range(60):  # 32 s
        tracker.changed(at(50, 40), now=i * blink)
        sent_between(tracker, i * blink, i * blink + blink - 0.01)
    assert tracker.dirty[0, 0]  # no tile while it blinks
    dirty_since = 3 * blink  # the blink that overtook its third (last) tile
    assert tracker.refinement_held(dirty_since + HOLD_MAX_S - 0.01)[0][0, 0]
    assert not tracker.refinement_held(dirty_since + HOLD_MAX_S)[0][0, 0]


def test_only_a_change_after_quiet_whose_tiles_go_soon_counts_as_covered_soon() -> None:
    tracker = BlockTracker(W, H, generation=1)
    everything = np.ones((13, 20), dtype=np.bool_)
    tracker.changed(everything, now=10.0)  # a page switch on a screen quiet till now
    assert tracker.covered_soon(everything).all()
    tracker.changed(everything, now=10.04)  # the next frame of an animation (or drawing)
    assert not tracker.covered_soon(everything).any()
    assert not tracker.covered_soon(np.zeros_like(everything)).any()
    # Page switches 0.6 s apart: each overtakes the tiles of the last, which doubles the
    # blocks' delays; at 0.24 s the tiles still go soon, at 0.48 s no longer.
    tracker.take(PICTURE, 10.2, allowance=10**6)
    tracker.changed(everything, now=10.6)
    assert tracker.covered_soon(everything).all()
    tracker.take(PICTURE, 10.9, allowance=10**6)
    tracker.changed(everything, now=11.2)
    assert not tracker.covered_soon(everything).any()
    # A clock in block (0, 0) ticking beside a page switch: only its block is left out.
    tracker.changed(everything, now=20.0)
    tracker.changed(at(5, 5), now=20.5)
    tracker.changed(everything, now=20.55)
    covered = tracker.covered_soon(everything)
    assert not covered[0, 0]
    assert covered.sum() == covered.size - 1


class Pages:
    """A 640x384 screen of dense coloured text; ``page`` shows another, ``scroll`` moves it."""

    def __init__(self) -> None:
        self.pixels = np.full((384, 640, 4), 128, dtype=np.uint8)
        self.tall = text_picture(640, 384 * 3, seed=7)

    def page(self, index: int, offset: int = 0) -> None:
        top = index * 384 + offset
        self.pixels[..., :3] = self.tall[top : top + 384, :, ::-1]

    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(0, 0, 640, 384)

    def grab(self, rect: Rect | None = None) -> BGRA:
        r = rect or Rect(0, 0, 640, 384)
        return np.ascontiguousarray(self.pixels[r.y : r.y + r.h, r.x : r.x + r.w])

    def close(self) -> None:
        pass


def test_a_page_switch_the_tiles_cover_soon_is_coded_coarser_but_not_a_scroll() -> None:
    source = Pages()
    pipeline = EncodePipeline(lambda: source, 60, 50_000_000)
    pipeline.tiles = tracker = BlockTracker(640, 384, generation=1)
    change = Plan(at=0.0, capture=True, refine=False, keyframe=False)
    pts = iter(range(0, 10**6, 1500))

    def switch(page: int, offset: int = 0) -> Produced:
        # As if the screen had been quiet for a second since its last change.
        tracker.changed_at -= 1.0
        source.page(page, offset)
        produced = pipeline.produce(Codec.H264, change, None, next(pts), 50_000_000)
        assert produced.qp == BASE_QP
        assert produced.changed.sum() > 0.9 * produced.changed.size
        return produced

    try:
        key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
        pipeline.produce(Codec.H264, key, None, next(pts), 50_000_000)
        # Before the viewer says its overlay draws, a page switch is coded as always.
        plain = switch(1)
        assert plain.coarse == 0
        pipeline.overlay_works = True
        coarse = switch(0)
        assert coarse.coarse == coarse.changed.sum()
        assert coarse.size < 0.7 * plain.size
        # A keep-alive at BASE_QP does not re-code (sharpen) the coarse page the tiles cover.
        alive = Plan(at=0.0, capture=False, refine=False, keyframe=False, keepalive=True)
        produced = pipeline.produce(Codec.H264, alive, None, next(pts), 50_000_000)
        assert produced.size < 0.02 * coarse.size
        # The next frame right after it (the page still drawing, an animation): as always.
        source.pixels[:200] = 255
        produced = pipeline.produce(Codec.H264, change, None, next(pts), 50_000_000)
        assert produced.coarse == 0
        # A page switch while a clock ticks in one block: the rest of the page is coarse.
        switch(1)
        tracker.changed_at[0, 0] += 1.0  # the clock's block changed just now
        produced = switch(0)
        clock = int(produced.changed[:8, :8].sum())
        assert clock > 0
        assert produced.coarse == produced.changed.sum() - clock
        # A scroll after quiet: it will keep moving, and no tile covers a moving page.
        switch(1)
        produced = switch(1, offset=48)
        assert pipeline.scroll is not None
        assert produced.coarse == 0
        # A small change after quiet (an edit): as always.
        tracker.changed_at -= 1.0
        source.pixels[100:116, 100:300] = 0
        produced = pipeline.produce(Codec.H264, change, None, next(pts), 50_000_000)
        assert produced.coarse == 0
    finally:
        pipeline.close()
