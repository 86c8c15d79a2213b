"""Marking (host_agent.video.marking, Watermark.blend_into): the marked frames the pipeline
sends are the bytes the straightforward blend gives (the rectangle's whole mask built and
every pixel under it blended: ``Watermark.blend_dense_into``).

Two real pipelines (encode_pipeline.EncodePipeline, x264 included) capture the same screens:
the bench's chart text in a scrolled pane beside a static sidebar and header, with a clock and
edits changing elsewhere, scrolled and panned sideways by various amounts both ways,
captured whole or through a damage rectangle, across a change of minute. One marks as
shipped (the sparse blend through the scroll and pan offsets), one blends densely into a
copy (no spare buffer swapped in); their pictures (BGRA and I420) must be equal after every
frame.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pytest

from bench.pipeline_scroll import page
from host_agent.video import encode_pipeline
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.encode_pipeline import Codec, EncodePipeline
from host_agent.video.marking import Marker
from host_agent.video.scheduler import Plan
from host_agent.video.watermark import MAX_WINDOWS, Watermark, WatermarkIdentity

pytestmark = pytest.mark.unit

# Not multiples of 16: partial tiles and column blocks at the right and bottom edges.
W, H = 1000, 398
# The pane starts inside a column block and ends on a block's edge (880): the mark moves
# over whole blocks only, the rest of the pane is blended, the sidebars are left as they were.
PANE_X, PANE_W, PANE_Y, PANE_H = 37, 843, 21, 350
IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
NOON_UTC = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)
# Wider than the pane and the screen: the text is also panned sideways.
TEXT = page(PANE_W + 600, 2400)
WHOLE = page(W + 600, 2400)
# A ruler down the pane's right edge, different on every row, so the changed columns of a
# scroll reach the pane's edge (a scroll bar's place: it does not pan).
RULER = (np.arange(2400) * 7 % 200).astype(np.uint8)[:, None, None]


class Screen:
    """A screen of chart text scrolled in a pane (or across the whole screen)."""

    def __init__(self, whole: bool, fresh: bool = False) -> None:
        self.whole = whole
        # Each grab is a new array (pixels() draws the screen anew): said or not, to cover
        # marking in place (FrameSource.fresh_grabs) and into a copy.
        self.fresh_grabs = fresh
        self.top = 600
        self.left = 300
        self.clock = 0  # a small area that changes by itself, outside the pane
        self.edit = -1  # a row of the pane drawn over (a line being edited), or -1

    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(0, 0, W, H)

    def pixels(self) -> BGRA:
        if self.whole:
            screen = WHOLE[self.top : self.top + H, self.left : self.left + W].copy()
        else:
            screen = np.full((H, W, 4), (236, 230, 224, 255), dtype=np.uint8)
            screen[:PANE_Y, :, :3] = (90, 60, 30)  # header bar
            rows = slice(self.top, self.top + PANE_H)
            pane = screen[PANE_Y : PANE_Y + PANE_H, PANE_X : PANE_X + PANE_W]
            pane[...] = TEXT[rows, self.left : self.left + PANE_W]
            pane[:, -5:, :3] = RULER[rows]
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
# damage rectangle only, a minute passes, columns the content moves left (+) or right (-)).
STEPS = [
    (3, False, -1, False, False, 0),
    (13, True, -1, False, False, 0),
    (45, False, -1, True, False, 0),
    (0, False, -1, False, False, 37),  # panned sideways
    (-20, False, -1, False, False, 0),
    (0, False, -1, True, False, -8),
    (1, True, 150, False, False, 0),  # scrolled while a line in the middle changed
    (67, False, -1, True, False, 0),
    (0, True, 90, False, False, 0),  # no scroll: an edit and the clock
    (0, False, -1, False, False, 120),
    (33, False, -1, False, True, 0),  # a new minute: the mark's text changes everywhere
    (0, True, -1, True, False, -61),
    (-5, True, -1, True, False, 0),
    (140, False, -1, False, False, 0),
    (0, False, -1, False, False, 0),  # nothing changed
]


@pytest.mark.parametrize("fresh", [False, True], ids=["copied", "in-place"])
@pytest.mark.parametrize("whole", [False, True], ids=["pane", "whole-screen"])
def test_marked_frames_are_the_bytes_a_dense_blend_gives(
    whole: bool, fresh: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [NOON_UTC]
    monkeypatch.setattr(encode_pipeline, "_utc_now", lambda: clock[0])
    screen = Screen(whole, fresh)
    shipped = EncodePipeline(lambda: screen, 60, 8_000_000, IDENTITY)
    dense = EncodePipeline(lambda: screen, 60, 8_000_000, IDENTITY)
    assert shipped.watermark is not None
    assert dense.watermark is not None
    dense.watermark.blend_into = dense.watermark.blend_dense_into  # type: ignore[method-assign]
    # The reference marks a copy, as before the picture's spare buffer: its whole-screen
    # captures are copied into the picture, its unmarked pixels copied for scroll detection.
    dense.picture.spare_for = lambda rect: None  # type: ignore[method-assign]
    key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
    capture = Plan(at=0.0, capture=True, refine=False, keyframe=False)
    for pipeline in (shipped, dense):
        pipeline.produce(Codec.H264, key, None, 0, 8_000_000)
    pane = Rect(PANE_X, PANE_Y, PANE_W, PANE_H)
    scrolls = pans = 0
    for i, (dy, tick, edit, damaged, minute, dx) in enumerate(STEPS, start=1):
        screen.top += dy
        screen.left += dx
        screen.clock += tick
        screen.edit = edit
        if minute:
            clock[0] += dt.timedelta(minutes=1)
        region = pane if damaged and not tick else None
        for pipeline in (shipped, dense):
            pipeline.produce(Codec.H264, capture, region, i * 1500, 8_000_000)
        scrolls += shipped.scroll is not None
        pans += shipped.scroll is not None and shipped.scroll.dx == -dx != 0
        assert shipped.scroll == dense.scroll
        np.testing.assert_array_equal(shipped.picture.bgra, dense.picture.bgra, err_msg=f"step {i}")
        for plane in ("_y", "_u", "_v"):
            np.testing.assert_array_equal(
                getattr(shipped.picture, plane), getattr(dense.picture, plane), err_msg=f"step {i}"
            )
    # The comparison covered scrolled marks (offsets moved per column block) and both texts.
    assert scrolls >= 10
    assert pans >= 3
    assert shipped.watermark.renders == 2
    assert len(shipped.watermark._block_runs(0, 0, W, H)) >= 3  # pane, sidebars
    shipped.close()
    dense.close()


def test_blend_into_equals_the_dense_blend_for_any_rectangle_after_any_scrolls() -> None:
    """Rectangles of every shape (partial column blocks, single rows and columns, the edges)
    over a mark scrolled and panned sideways in random bands: the sparse blend's bytes are
    the dense blend's."""
    mark = Watermark(IDENTITY, W, H)
    screen = page(W, H)
    mark.apply(screen, NOON_UTC)  # renders the mask
    rng = np.random.default_rng(15)
    for step in range(300):
        band_x, band_y = int(rng.integers(0, W // 2)), int(rng.integers(-20, H - 50))
        band_w, band_h = int(rng.integers(1, W)), int(rng.integers(1, H))
        mark.shift(band_x, band_y, band_w, band_h, int(rng.integers(-250, 250)))
        band_x, band_y = int(rng.integers(-20, W - 50)), int(rng.integers(0, H // 2))
        band_w, band_h = int(rng.integers(1, W)), int(rng.integers(1, H))
        mark.pan(band_x, band_y, band_w, band_h, int(rng.integers(-700, 700)))
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        w, h = int(rng.integers(1, W - x + 1)), int(rng.integers(1, H - y + 1))
        pixels = np.ascontiguousarray(screen[y : y + h, x : x + w])
        sparse, dense = pixels.copy(), pixels.copy()
        mark.blend_into(sparse, x, y)
        mark.blend_dense_into(dense, x, y)
        np.testing.assert_array_equal(sparse, dense, err_msg=f"step {step}")
    whole = screen.copy()
    mark.blend_into(whole, 0, 0)
    assert np.count_nonzero((whole != screen).any(axis=-1)) > 0.01 * W * H  # it marked


def marker_and_screen() -> tuple[Marker, BGRA, BGRA]:
    """A marker with a watermark, a page of chart text, and that page densely marked."""
    mark = Watermark(IDENTITY, W, H)
    screen = page(W, H)
    reference = np.ascontiguousarray(screen.copy())
    mark.prepare(NOON_UTC)
    mark.blend_dense_into(reference, 0, 0)
    return Marker(mark, W, H), screen, reference


@pytest.mark.parametrize("owned", [False, True])
def test_an_owned_capture_is_marked_in_place_and_any_other_is_left_alone(owned: bool) -> None:
    """``owned`` (the source's fresh_grabs): the grabbed array itself comes back marked, no
    copy made; otherwise the caller's array is untouched. The unmarked pixels are kept for
    scroll detection either way, and the marked bytes are the same."""
    marker, screen, reference = marker_and_screen()
    pixels = screen.copy()
    picture = np.zeros_like(screen)
    out = marker.take(Rect(0, 0, W, H), pixels, picture, NOON_UTC, owned)
    assert (out is pixels) == owned
    if not owned:
        np.testing.assert_array_equal(pixels, screen)
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(marker._raw, screen)  # kept unmarked
    # The next capture, the page scrolled by 30 rows, is found against the unmarked pixels.
    scrolled = np.ascontiguousarray(page(W, H + 30)[30:])
    marker.take(Rect(0, 0, W, H), scrolled.copy(), out, NOON_UTC, owned)
    assert marker.scroll is not None
    assert marker.scroll.dy == -30


@pytest.mark.parametrize("owned", [False, True])
def test_a_whole_screen_capture_is_marked_into_the_spare_buffer(owned: bool) -> None:
    """With the picture's spare buffer (a whole-screen grab): the marked pixels come back in
    it, the grabbed array is left unmarked either way, and an owned one is kept as it is
    (no copy) as the unmarked pixels the next scroll is found against."""
    marker, screen, reference = marker_and_screen()
    pixels = screen.copy()
    spare = np.zeros_like(screen)
    out = marker.take(Rect(0, 0, W, H), pixels, np.zeros_like(screen), NOON_UTC, owned, spare)
    assert out is spare
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(pixels, screen)  # never marked
    assert (marker._raw is pixels) == owned
    np.testing.assert_array_equal(marker._raw, screen)
    scrolled = np.ascontiguousarray(page(W, H + 30)[30:])
    other = np.zeros_like(screen)
    marker.take(Rect(0, 0, W, H), scrolled.copy(), out, NOON_UTC, owned, other)
    assert marker.scroll is not None
    assert marker.scroll.dy == -30
    # A damage rectangle afterwards is kept in the unmarked pixels, the grab left alone.
    rect = Rect(0, 40, W, 100)
    part = np.ascontiguousarray(page(W, H + 50)[50 + rect.y : 50 + rect.y + rect.h])
    before = part.copy()
    marker.take(rect, part, other, NOON_UTC, False)
    np.testing.assert_array_equal(marker._raw[rect.y : rect.y + rect.h], before)
    np.testing.assert_array_equal(part, before)


def test_a_jump_beyond_the_motion_search_leaves_the_mark_in_place() -> None:
    """A page jump the detector finds (Page Down) but x264 cannot follow: the content is
    coded anew, and the mark stays where it was (same pixels over the page's background).
    A scroll within reach moves the mark with the content."""
    marker, screen, reference = marker_and_screen()
    out = marker.take(Rect(0, 0, W, H), screen.copy(), np.zeros_like(screen), NOON_UTC)
    np.testing.assert_array_equal(out, reference)
    fixed_mark = Watermark(IDENTITY, W, H)
    fixed_mark.prepare(NOON_UTC)

    def scroll_to(top: int, dy: int) -> tuple[BGRA, BGRA]:
        """The page from row ``top``, as marked, and as a mark never moved would mark it."""
        pixels = np.ascontiguousarray(page(W, H + top)[top:])
        marked = marker.take(Rect(0, 0, W, H), pixels.copy(), out, NOON_UTC)
        assert marker.scroll is not None
        assert marker.scroll.dy == dy
        fixed = pixels.copy()
        fixed_mark.blend_dense_into(fixed, 0, 0)
        return marked, fixed

    out, unmoved = scroll_to(180, -180)
    np.testing.assert_array_equal(out, unmoved)
    # Within reach (30 rows): the mark moves, so the marked page differs from a fixed mark.
    out, fixed = scroll_to(210, -30)
    assert (out != fixed).any()


def test_whole_rows_are_blended_by_slices_as_densely_after_any_scrolls() -> None:
    """``blend_into``'s slices of a column range's entries listed row by row (whole-width
    rectangles, the mark not panned): after scrolls of bands of any width (runs of column
    blocks with their own offsets; past the mask's height too, so rows wrap) the bytes
    are the dense blend's at any height; once the bands leave too many runs of rows, the
    general path's bytes are the same too."""
    mark = Watermark(IDENTITY, W, H)
    screen = page(W, H)
    mark.prepare(NOON_UTC)
    rng = np.random.default_rng(151)
    sliced = mark._blend_sliced
    taken: list[bool] = []

    def counted(
        flat_out: npt.NDArray[np.uint32], c0: int, c1: int, shown: npt.NDArray[np.int64]
    ) -> bool:
        taken.append(sliced(flat_out, c0, c1, shown))
        return taken[-1]

    mark._blend_sliced = counted  # type: ignore[method-assign]
    marked = 0
    for step in range(120):
        # Whole-width bands, then narrower ones, then bands a few rows high (many runs of
        # rows: the general path).
        left = 0 if step < 40 else int(rng.integers(0, W // 2))
        width = W - left if step < 40 else int(rng.integers(1, W - left + 1))
        rows = int(rng.integers(1, H if step < 80 else 12))
        top = int(rng.integers(-10, H - 30))
        mark.shift(left, top, width, rows, int(rng.integers(-900, 900)))
        y = int(rng.integers(0, H))
        h = int(rng.integers(1, H - y + 1))
        pixels = np.ascontiguousarray(screen[y : y + h])
        sparse, dense = pixels.copy(), pixels.copy()
        mark.blend_into(sparse, 0, y)
        mark.blend_dense_into(dense, 0, y)
        np.testing.assert_array_equal(sparse, dense, err_msg=f"step {step}")
        marked += not np.array_equal(sparse, pixels)
    assert marked > 60  # a few rows may lie between the copies of the text
    assert taken.count(True) > 100  # sliced
    assert taken.count(False) >= 5  # too many runs of rows: the general path
    assert len(mark._windows) == MAX_WINDOWS  # a few column ranges kept, no more
    # The screen's rows showing the mask's last rows, then (wrapping) its first ones.
    again = Watermark(IDENTITY, W, H)
    again.prepare(NOON_UTC)
    again.shift(0, 0, W, H, -500)
    sparse, dense = screen.copy(), screen.copy()
    again.blend_into(sparse, 0, 0)
    again.blend_dense_into(dense, 0, 0)
    np.testing.assert_array_equal(sparse, dense)


def test_a_pan_has_the_next_capture_try_columns_first_and_a_scroll_ends_that() -> None:
    """A pan lasts many frames: after one, the columns are tried first (the rows' vote a
    pan always fails was ~4 ms of a 1080p frame); the moves found are the same."""
    marker, screen, _ = marker_and_screen()
    wide = page(W + 64, H + 64)
    marker.take(Rect(0, 0, W, H), np.ascontiguousarray(wide[:H, :W]), screen, NOON_UTC)
    assert not marker.panning
    for step, left in enumerate((9, 18, 27), start=1):
        pixels = np.ascontiguousarray(wide[:H, left : left + W])
        marker.take(Rect(0, 0, W, H), pixels, screen, NOON_UTC)
        assert marker.scroll is not None, f"pan {step}"
        assert (marker.scroll.dx, marker.scroll.dy) == (-9, 0)
        assert marker.panning
    pixels = np.ascontiguousarray(wide[12 : 12 + H, 27 : 27 + W])
    marker.take(Rect(0, 0, W, H), pixels, screen, NOON_UTC)
    assert marker.scroll is not None
    assert (marker.scroll.dx, marker.scroll.dy) == (0, -12)
    assert not marker.panning
