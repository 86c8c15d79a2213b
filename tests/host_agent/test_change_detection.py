"""Tile diff and the kept picture (host_agent.video.change_detection), on plain arrays."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from host_agent.video.change_detection import Rect, ScreenPicture, changed_tiles, tile_aligned

pytestmark = pytest.mark.unit

W, H = 320, 200  # 200 rows: the last band is 8 rows of picture and 8 of padding


def screen(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bgra = rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8)
    bgra[..., 3] = 255
    return bgra


def grabber(source: np.ndarray, log: list[Rect] | None = None):  # type: ignore[no-untyped-def]
    def grab(rect: Rect) -> np.ndarray:
        if log is not None:
            log.append(rect)
        return source[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w].copy()

    return grab


def test_one_changed_pixel_marks_its_tile_only() -> None:
    """A single pixel change marks exactly the 16x16 tile holding it, partial tiles too."""
    old = screen()
    new = old.copy()
    new[199, 319, 1] ^= 1
    mask = changed_tiles(old, new)
    assert mask.shape == (13, 20)
    assert mask.sum() == 1
    assert mask[12, 19]


def test_the_damage_hint_is_grown_to_tiles_and_clipped() -> None:
    """XDamage rectangles become whole tiles inside the screen; outside ones vanish."""
    assert tile_aligned(Rect(5, 17, 3, 3), W, H) == Rect(0, 16, 16, 16)
    assert tile_aligned(Rect(310, 190, 50, 50), W, H) == Rect(304, 176, 16, 24)
    assert tile_aligned(Rect(400, 0, 10, 10), W, H) is None


def test_only_the_damaged_rectangle_is_grabbed_and_compared() -> None:
    """With a hint, the grab covers the hint's tiles, and only real changes count."""
    source = screen()
    picture = ScreenPicture(W, H)
    picture.update(grabber(source))
    source[40:44, 100:104, :3] = 0
    source[150:160, 10:20, :3] = 0  # drawn but not reported: not looked at
    grabs: list[Rect] = []
    mask = picture.update(grabber(source, grabs), Rect(98, 38, 10, 10))
    assert grabs == [Rect(96, 32, 16, 16)]
    assert mask.sum() == 1
    assert mask[2, 6]


def test_drawing_identical_pixels_changes_nothing() -> None:
    """Damage without a pixel change (a toolkit redrawing) yields no tile and no conversion."""
    source = screen()
    picture = ScreenPicture(W, H)
    picture.update(grabber(source))
    before = picture.bands_converted
    assert not picture.update(grabber(source), Rect(0, 0, W, H)).any()
    assert picture.bands_converted == before


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    out = []
    for plane, rows, cols in zip(
        frame.planes, (H, H // 2, H // 2), (W, W // 2, W // 2), strict=True
    ):
        out.append(
            np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)[
                :rows, :cols
            ]
        )
    return out


def test_changed_bands_convert_exactly_as_in_a_whole_picture_conversion() -> None:
    """Luma everywhere and the chroma of every changed band equal a whole-screen conversion
    (bands are converted with their neighbours as context)."""
    source = screen()
    picture = ScreenPicture(W, H)
    picture.update(grabber(source))
    changed_rows = np.zeros(H // 2, dtype=np.bool_)
    for y, x in ((20, 30), (100, 200), (190, 300)):
        source[y : y + 5, x : x + 9, :3] = 17
        mask = picture.update(grabber(source), Rect(x, y, 9, 5))
        for band in np.flatnonzero(mask.any(axis=1)):
            changed_rows[band * 8 : band * 8 + 8] = True
    whole = planes(
        VideoReformatter().reformat(
            av.VideoFrame.from_ndarray(source, format="bgra"), format="yuv420p"
        )
    )
    mine = planes(picture.video_frame())
    assert np.array_equal(whole[0], mine[0])
    for chroma in (1, 2):
        assert np.array_equal(whole[chroma][changed_rows], mine[chroma][changed_rows])


def test_odd_sizes_are_refused() -> None:
    """4:2:0 needs even dimensions; the capture crops to them first."""
    with pytest.raises(ValueError, match="even"):
        ScreenPicture(321, 200)


def test_a_whole_screen_grab_written_into_the_spare_buffer_is_taken_by_a_swap() -> None:
    """``spare_for``: a whole-screen grab that fills the picture's spare buffer becomes the
    picture (the buffers swap, nothing is copied); a grab that did not change anything, or
    any other array, leaves the buffers as they are; a smaller rectangle gets no spare."""
    picture = ScreenPicture(W, H)
    assert picture.spare_for(Rect(0, 0, W, H - 16)) is None
    first, second = screen(1), screen(2)

    def into_spare(source: np.ndarray):  # type: ignore[no-untyped-def]
        def grab(rect: Rect) -> np.ndarray:
            spare = picture.spare_for(rect)
            assert spare is not None
            spare[...] = source
            return spare

        return grab

    picture.update(into_spare(first))
    held = picture.bgra
    np.testing.assert_array_equal(held, first)
    spare = picture.spare_for(Rect(0, 0, W, H))
    assert spare is not None
    assert not np.shares_memory(spare, held)  # the former picture, to be overwritten
    mask = picture.update(into_spare(second))
    assert mask.all()
    np.testing.assert_array_equal(picture.bgra, second)
    assert np.shares_memory(picture.bgra, spare)  # swapped in, not copied
    np.testing.assert_array_equal(picture._y[:H], reference_y(second))
    now = picture.bgra
    assert not picture.update(into_spare(second)).any()  # unchanged: kept as it was
    assert np.shares_memory(picture.bgra, now)
    picture.update(grabber(first))  # any other array is copied into the picture
    assert np.shares_memory(picture.bgra, now)
    np.testing.assert_array_equal(picture.bgra, first)


def reference_y(bgra: np.ndarray) -> np.ndarray:
    """The Y plane of a whole-picture conversion."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgra), format="bgra")
    yuv = VideoReformatter().reformat(frame, format="yuv420p")
    return np.frombuffer(memoryview(yuv.planes[0]), np.uint8).reshape(H, -1)[:, :W]
