"""Scroll detection on the capture side (host_agent.video.scroll): which band moved, how far."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from host_agent.video.scroll import detect_scroll, row_signatures

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


def test_signatures_tell_rows_apart_and_match_equal_rows() -> None:
    page = view(0)
    signatures = row_signatures(page)
    assert signatures.shape == (360,)
    assert signatures[0] == row_signatures(page[:1].copy())[0]
    inked = [s for s, row in zip(signatures, page, strict=True) if (row[:, 0] != 255).any()]
    assert len(set(inked)) == len(inked)


def test_pictures_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        detect_scroll(view(0, 360), view(0, 300))
