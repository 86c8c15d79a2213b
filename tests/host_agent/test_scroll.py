"""Scroll detection on the capture side (host_agent.video.scroll): which band moved, how far."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from host_agent.video.scroll import column_signatures, detect_scroll, row_signatures

pytestmark = pytest.mark.unit

Page = npt.NDArray[np.uint8]


def text_page(rows: int, cols: int, seed: int = 3) -> Page:
    """Lines of random 'glyphs' 14 px high on white, with blank 4 px gaps (like text)."""
    rng = np.random.default_rng(seed)
    page = np.full((rows, cols, 4), 255, dtype=np.uint8)
    for top in range(0, rows - 14, 18):
        ink = rng.random((14, cols)) < 0.25
        page[top : top + 14][ink, :3] = rng.integers(0, 90, size=(int(ink.sum()), 1))
    return page


PAGE = text_page(3000, 640)


def view(offset: int, height: int = 360) -> Page:
    return np.ascontiguousarray(PAGE[offset : offset + height])


def photo(rows: int, cols: int, seed: int = 5) -> Page:
    """A photo-like picture: smooth colour gradients with fine noise (a radiograph's grain)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:rows, 0:cols]
    image = np.empty((rows, cols, 4), dtype=np.uint8)
    for channel, (fy, fx) in enumerate([(0.011, 0.007), (0.005, 0.013), (0.017, 0.003)]):
        wave = 110 + 80 * np.sin(ys * fy + xs * fx + channel)
        image[..., channel] = np.clip(wave + rng.normal(0, 6, (rows, cols)), 0, 255)
    image[..., 3] = 255
    return image


PHOTO = photo(360, 1400)


def across(offset: int, width: int = 640) -> Page:
    """The photo seen through a 360 x ``width`` window, ``offset`` columns from its left."""
    return np.ascontiguousarray(PHOTO[:, offset : offset + width])


@pytest.mark.parametrize("shift", [1, 3, 13, 40, 67, 150])
def test_a_page_scrolled_towards_its_end_is_found_with_its_shift(shift: int) -> None:
    found = detect_scroll(view(500), view(500 + shift))
    assert found is not None
    assert found.dy == -shift
    # The whole picture moved: the band is the picture (from its first changed row: blank
    # rows above it read the same either way).
    assert (found.x, found.w) == (0, 640)
    assert found.y <= 18
    assert found.y + found.h == 360
    assert found.matched_rows >= 360 - shift - 20


def test_scrolling_back_up_gives_a_positive_shift() -> None:
    found = detect_scroll(view(500), view(480))
    assert found is not None
    assert found.dy == 20


def test_a_scrolled_pane_beside_a_static_sidebar_and_header_is_found_as_its_band() -> None:
    old = np.full((360, 640, 4), 200, dtype=np.uint8)
    new = old.copy()
    old[40:300, 100:500] = view(700, 260)[:, :400]
    new[40:300, 100:500] = view(724, 260)[:, :400]
    found = detect_scroll(old, new)
    assert found is not None
    assert found.dy == -24
    assert (found.x, found.w) == (100, 400)
    assert found.y >= 40
    assert found.y + found.h <= 300
    assert found.h >= 200


@pytest.mark.parametrize("shift", [1, 7, 16, 40, 133, 300])
def test_a_picture_panned_sideways_is_found_with_its_shift(shift: int) -> None:
    """Dragged left (the content moves towards smaller columns): dx is negative, dy 0, and
    the band is the whole picture, the exposed columns at its right edge included."""
    found = detect_scroll(across(400), across(400 + shift))
    assert found is not None
    assert (found.dx, found.dy) == (-shift, 0)
    assert (found.x, found.y, found.w, found.h) == (0, 0, 640, 360)
    assert found.matched_rows >= 640 - shift - 2  # columns, for a pan
    assert found.size == shift
    back = detect_scroll(across(400 + shift), across(400))
    assert back is not None
    assert (back.dx, back.dy) == (shift, 0)


def test_a_grayscale_pane_panned_beside_a_static_sidebar_is_found_as_its_band() -> None:
    """A grey radiograph panned inside a viewer pane (x 120..600, rows 30..330)."""
    gray = PHOTO[..., 1:2].repeat(3, axis=-1)
    old = np.full((360, 640, 4), 40, dtype=np.uint8)
    new = old.copy()
    old[30:330, 120:600, :3] = gray[:300, 500:980]
    new[30:330, 120:600, :3] = gray[:300, 525:1005]
    found = detect_scroll(old, new)
    assert found is not None
    assert (found.dx, found.dy) == (-25, 0)
    assert (found.x, found.y, found.w, found.h) == (120, 30, 480, 300)


@pytest.mark.parametrize("shift", [3, 40, 150])
def test_columns_first_finds_the_same_moves(shift: int) -> None:
    """While a pan goes on the columns are tried first (``columns_first``): the same pan
    is found, and a vertical scroll or a page switch still come out as without it."""
    pan = (across(400), across(400 + shift))
    assert detect_scroll(*pan, columns_first=True) == detect_scroll(*pan)
    scroll = (view(500), view(500 + shift))
    found = detect_scroll(*scroll, columns_first=True)
    assert found == detect_scroll(*scroll)
    assert found is not None
    assert (found.dx, found.dy) == (0, -shift)
    assert detect_scroll(view(500), text_page(360, 640, seed=9), columns_first=True) is None


def test_a_scroll_is_still_reported_as_vertical() -> None:
    found = detect_scroll(view(500), view(540))
    assert found is not None
    assert (found.dx, found.dy, found.size) == (0, -40, 40)


def test_a_page_switch_is_not_a_scroll() -> None:
    assert detect_scroll(view(500), text_page(360, 640, seed=9)) is None


def test_an_edited_line_is_not_a_scroll() -> None:
    old = view(500)
    new = old.copy()
    new[100:114, 40:200, :3] = 0
    assert detect_scroll(old, new) is None


def test_an_unchanged_picture_and_a_blank_one_are_not_scrolls() -> None:
    assert detect_scroll(view(500), view(500)) is None
    blank = np.full((360, 640, 4), 255, dtype=np.uint8)
    assert detect_scroll(blank, view(500)) is None


def test_a_shift_beyond_the_limit_is_not_reported() -> None:
    assert detect_scroll(view(500), view(560), max_shift=40) is None
    assert detect_scroll(across(0), across(60), max_shift=40) is None


def test_a_photo_switched_for_another_is_not_a_pan() -> None:
    assert detect_scroll(across(0), np.ascontiguousarray(photo(360, 640, seed=8))) is None


def test_signatures_tell_rows_apart_and_match_equal_rows() -> None:
    page = view(0)
    signatures = row_signatures(page)
    assert signatures.shape == (360,)
    assert signatures[0] == row_signatures(page[:1].copy())[0]
    inked = [s for s, row in zip(signatures, page, strict=True) if (row[:, 0] != 255).any()]
    assert len(set(inked)) == len(inked)


def test_column_signatures_are_the_row_signatures_of_the_transposed_picture() -> None:
    """Summed over chunks of rows without transposing, yet exactly the same values."""
    picture = np.ascontiguousarray(PHOTO[:200, 3:700])
    np.testing.assert_array_equal(
        column_signatures(picture), row_signatures(picture.transpose(1, 0, 2))
    )


def test_pictures_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        detect_scroll(view(0, 360), view(0, 300))
