"""The watermark: who, where, when, in which session, burned into the pixels cheaply."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from host_agent.video.watermark import TILE_H, TILE_W, Watermark, WatermarkIdentity, render_mask

pytestmark = pytest.mark.unit

IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
NOON_UTC = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)


def frame(value: int) -> np.ndarray:
    return np.full((720, 1280, 4), value, dtype=np.uint8)


def test_text_names_viewer_organization_local_minute_and_session() -> None:
    """The lines carry name, id, clinic, the time in the clinic's zone, and the session."""
    lines = Watermark(IDENTITY, 1280, 720).lines(NOON_UTC)
    assert lines[0] == "山田 太郎  (u-1042)"
    assert lines[1] == "さくら内科クリニック"
    assert lines[2].startswith("2026-11-21 12:00  S:SSSS")  # 03:00 UTC is 12:00 in Tokyo


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("America/New_York", "2026-11-20 22:00"),
        (None, "2026-11-21 12:00"),
        ("Mars/Olympus_Mons", "2026-11-21 12:00"),
    ],
    ids=["clinic-zone", "none-sent", "unknown-here"],
)
def test_time_is_shown_in_the_zone_the_session_start_names(zone: str | None, shown: str) -> None:
    """The session start's zone sets the watermark's clock; without one, or with one this PC
    cannot load, it is Japan's (the broker's default)."""
    identity = dataclasses.replace(IDENTITY, time_zone=zone)
    assert Watermark(identity, 1280, 720).lines(NOON_UTC)[2].startswith(f"{shown}  S:")


@pytest.mark.parametrize("background", [0, 128, 255])
def test_mark_is_visible_on_dark_grey_and_light_backgrounds(background: int) -> None:
    """Some pixels change noticeably on any background, most stay untouched."""
    source = frame(background)
    out = Watermark(IDENTITY, 1280, 720).apply(source, NOON_UTC)
    changed = np.abs(out[..., :3].astype(int) - background).max(axis=-1)
    assert (changed >= 20).sum() > 5_000
    assert (changed == 0).mean() > 0.8
    assert (source == background).all(), "the captured frame itself is never modified"


def test_mask_is_rendered_again_only_when_the_minute_changes() -> None:
    """Frames within one minute reuse the mask; the next minute renders once more."""
    mark = Watermark(IDENTITY, 1280, 720)
    for second in range(0, 50, 10):
        mark.apply(frame(200), NOON_UTC + dt.timedelta(seconds=second))
    assert mark.renders == 1
    mark.apply(frame(200), NOON_UTC + dt.timedelta(minutes=1))
    assert mark.renders == 2


def test_mask_covers_the_whole_frame() -> None:
    """The tiled text reaches every quarter of the picture."""
    mask = render_mask(["山田 太郎", "S:1234"], 1280, 720)
    for quarter in (mask[:360, :640], mask[:360, 640:], mask[360:, :640], mask[360:, 640:]):
        assert quarter.any()


def test_frame_of_another_size_is_refused() -> None:
    """A frame that does not match the watermark's size is an error, not a partial mark."""
    with pytest.raises(ValueError, match="size"):
        Watermark(IDENTITY, 1280, 720).apply(np.zeros((10, 10, 4), np.uint8), NOON_UTC)


def test_the_mark_moves_with_a_scrolled_band_and_nowhere_else() -> None:
    mark = Watermark(IDENTITY, 1280, 720)
    before = mark.apply(frame(255), NOON_UTC)
    # A pane at x 96..1024, rows 100..600 scrolled towards its end by 37 rows.
    mark.shift(96, 100, 928, 500, -37)
    after = mark.apply(frame(255), NOON_UTC)
    # Inside the band the marked pixels are the old ones moved up by 37 rows ...
    np.testing.assert_array_equal(after[100:563, 96:1024], before[137:600, 96:1024])
    # ... the exposed rows continue the mark (it is periodic: the rows that would follow
    # row 600 of an unscrolled screen), and outside nothing moved.
    full = mark.mask_rect(96, 100, 928, 500)
    fresh = Watermark(IDENTITY, 1280, 720 + 37)
    fresh.apply(np.full((757, 1280, 4), 255, np.uint8), NOON_UTC)
    np.testing.assert_array_equal(full[463:], fresh.mask_rect(96, 600, 928, 37))
    assert np.count_nonzero(mark.mask_rect(96, 100, 928, 500)[300:]) > 0
    np.testing.assert_array_equal(after[:100], before[:100])
    np.testing.assert_array_equal(after[600:], before[600:])
    np.testing.assert_array_equal(after[:, :96], before[:, :96])
    np.testing.assert_array_equal(after[:, 1024:], before[:, 1024:])


def test_after_many_scrolls_every_region_is_still_marked_as_densely() -> None:
    mark = Watermark(IDENTITY, 1280, 720)
    mark.apply(frame(255), NOON_UTC)  # renders the mask
    base = np.count_nonzero(mark.mask_rect(0, 0, 1280, 720))
    rng = np.random.default_rng(4)
    for _ in range(200):
        mark.shift(0, 48, 900, 672, int(rng.integers(-80, 80)))
    moved = mark.mask_rect(0, 0, 1280, 720)
    # Every tile-sized window (one copy of the text) holds mark pixels, in about the same share.
    for y in range(0, 720 - TILE_H, TILE_H // 2):
        for x in range(0, 1280 - TILE_W, TILE_W // 2):
            assert np.count_nonzero(moved[y : y + TILE_H, x : x + TILE_W]) > 0
    assert abs(np.count_nonzero(moved) - base) / base < 0.05


def test_a_rectangle_gets_the_same_mark_as_the_whole_frame_after_a_shift() -> None:
    mark = Watermark(IDENTITY, 1280, 720)
    mark.apply(frame(255), NOON_UTC)
    mark.shift(200, 0, 400, 720, 55)
    whole = mark.mask_rect(0, 0, 1280, 720)
    np.testing.assert_array_equal(mark.mask_rect(150, 300, 500, 64), whole[300:364, 150:650])


def test_shift_moves_the_offsets_as_the_gather_and_modulo_did() -> None:
    """``shift`` (slices, offsets left unreduced) gives every pixel the mask row the former
    gather-and-modulo form gave it, over many scrolls of bands, both ways, some larger than
    the band (everything exposed) and some over partial column blocks."""
    mark = Watermark(IDENTITY, 1000, 398)
    mask_h = mark._mask_h
    reference = mark._offset.copy()
    rng = np.random.default_rng(15)
    for _ in range(300):
        x, w = int(rng.integers(0, 500)), int(rng.integers(1, 500))
        y, h = int(rng.integers(-20, 300)), int(rng.integers(1, 200))
        dy = int(rng.integers(-250, 250))
        mark.shift(x, y, w, h, dy)
        c0, c1 = mark.moved_columns(x, w)
        b0, b1 = c0 // 16, -(-c1 // 16)
        y0, y1 = max(0, y), min(398, y + h)
        if b1 > b0 and y1 > y0 and dy:
            band = reference[y0:y1, b0:b1]
            source = np.clip(np.arange(y1 - y0) - dy, 0, y1 - y0 - 1)
            reference[y0:y1, b0:b1] = (band[source] - dy) % mask_h
        np.testing.assert_array_equal(mark._offset % mask_h, reference)


def test_each_copy_of_the_text_is_whole_and_the_copies_spread_over_the_screen() -> None:
    """A tile's text (the longest line is the time and session) lies inside the tile, not
    cut by its rotation; every band of half a tile's height across a 720p screen holds
    some of the mark (the text is centred in its tile, not packed into a corner)."""
    lines = Watermark(IDENTITY, 1280, 720).lines(NOON_UTC)
    tile = render_mask(lines, TILE_W, TILE_H)
    ys, xs = np.nonzero(tile)
    assert ys.min() > 0
    assert xs.min() > 0
    assert ys.max() < TILE_H - 1
    assert xs.max() < TILE_W - 1
    mask = render_mask(lines, 1280, 720)
    for top in range(0, 720 - TILE_H // 2 + 1, TILE_H // 4):
        assert mask[top : top + TILE_H // 2].any(), f"rows {top}..{top + TILE_H // 2}"


@pytest.mark.parametrize("dx", [-37, 5, 16, 250, -700])
def test_the_mark_moves_with_a_band_panned_sideways_and_nowhere_else(dx: int) -> None:
    """A viewer pane at x 96..1024, rows 100..600, its picture dragged by ``dx`` columns."""
    mark = Watermark(IDENTITY, 1280, 720)
    before = mark.apply(frame(255), NOON_UTC)
    mark.pan(96, 100, 928, 500, dx)
    after = mark.apply(frame(255), NOON_UTC)
    # Inside the band the marked pixels are the old ones moved sideways by dx ...
    if abs(dx) < 928:
        src = slice(96 + max(0, -dx), 1024 - max(0, dx))
        dst = slice(96 + max(0, dx), 1024 - max(0, -dx))
        np.testing.assert_array_equal(after[100:600, dst], before[100:600, src])
    # ... the exposed columns continue the mark (periodic: as if the screen were wider) ...
    wide = Watermark(IDENTITY, 1280 + 1400, 720)
    wide.prepare(NOON_UTC)
    full = mark.mask_rect(96, 100, 928, 500)
    np.testing.assert_array_equal(full, wide.mask_rect(96 + 1280 - dx, 100, 928, 500))
    # ... and outside nothing moved.
    np.testing.assert_array_equal(after[:100], before[:100])
    np.testing.assert_array_equal(after[600:], before[600:])
    np.testing.assert_array_equal(after[:, :96], before[:, :96])
    np.testing.assert_array_equal(after[:, 1024:], before[:, 1024:])


def test_after_many_pans_and_scrolls_every_region_is_still_marked_as_densely() -> None:
    """The whole width below a header, moved both ways many times: it still shows the
    mask's periodic pattern, whole (one vertical period, 640 rows, holds as many mark pixels
    as any), and every copy-sized window holds some of it."""
    mark = Watermark(IDENTITY, 1280, 720)
    mark.prepare(NOON_UTC)
    period = np.count_nonzero(mark.mask_rect(0, 0, 1280, 2 * TILE_H))
    rng = np.random.default_rng(6)
    for _ in range(200):
        if rng.random() < 0.5:
            mark.pan(0, 48, 1280, 672, int(rng.integers(-300, 300)))
        else:
            mark.shift(0, 48, 1280, 672, int(rng.integers(-80, 80)))
    moved = mark.mask_rect(0, 0, 1280, 720)
    for y in range(0, 720 - TILE_H, TILE_H // 2):
        for x in range(0, 1280 - TILE_W, TILE_W // 2):
            assert np.count_nonzero(moved[y : y + TILE_H, x : x + TILE_W]) > 0
    assert np.count_nonzero(moved[48 : 48 + 2 * TILE_H]) == period


def test_a_panned_mark_then_scrolled_moves_with_the_rows() -> None:
    """Pans, then a scroll of a band across them: the panned mark moves up with the
    content (the sideways offsets move with the rows too, once there has been a pan)."""
    mark = Watermark(IDENTITY, 1280, 720)
    mark.prepare(NOON_UTC)
    # Two panes one above the other, panned apart (their seam where the mark has text).
    mark.pan(96, 100, 928, 130, 37)
    mark.pan(96, 230, 928, 370, -20)
    before = mark.apply(frame(255), NOON_UTC)
    mark.shift(96, 100, 928, 500, -41)
    after = mark.apply(frame(255), NOON_UTC)
    np.testing.assert_array_equal(after[100:559, 96:1024], before[141:600, 96:1024])
    assert not np.array_equal(after[100:559, 96:1024], before[100:559, 96:1024])


@pytest.mark.parametrize("zone", [None, "Asia/Kolkata", "America/St_Johns"])
def test_the_text_kept_for_a_minute_turns_with_the_minute(zone: str | None) -> None:
    """``lines`` keeps the text for its minute (asked twice a frame): it still changes on
    the minute, in zones half an hour off UTC too, and a caller's list is its own."""
    identity = dataclasses.replace(IDENTITY, time_zone=zone) if zone else IDENTITY
    mark = Watermark(identity, 1280, 720)
    late = NOON_UTC + dt.timedelta(seconds=59, microseconds=999_999)
    first = mark.lines(NOON_UTC + dt.timedelta(seconds=1))
    first.append("changed by the caller")
    assert mark.lines(late) == mark.lines(NOON_UTC)
    assert len(mark.lines(late)) == 3
    turned = mark.lines(NOON_UTC + dt.timedelta(minutes=1))
    assert turned != mark.lines(late)
    assert turned == Watermark(identity, 1280, 720).lines(NOON_UTC + dt.timedelta(minutes=1))
