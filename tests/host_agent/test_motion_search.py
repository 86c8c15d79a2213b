"""The motion search chosen from the detected scroll (host_agent.video.motion_search)."""

from __future__ import annotations

import pytest

from host_agent.video.motion_search import (
    DEFAULT,
    HOLD_FRAMES,
    MotionSearchPolicy,
    Search,
    search_for,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("shift", "search"),
    [
        (0, DEFAULT),
        (-8, DEFAULT),
        (9, Search("umh", 32)),
        (-24, Search("umh", 32)),
        (-40, Search("umh", 64)),
        (100, Search("umh", 128)),
        (-400, Search("umh", 128)),
    ],
)
def test_the_search_reaches_a_little_beyond_the_shift(shift: int, search: Search) -> None:
    assert search_for(shift) == search


def test_a_wide_search_is_held_a_few_frames_then_dropped() -> None:
    policy = MotionSearchPolicy()
    assert policy.next(0) == DEFAULT
    assert policy.next(-40) == Search("umh", 64)
    # A frame the detector missed mid-scroll, and a smaller move, keep the wide search.
    assert policy.next(0) == Search("umh", 64)
    assert policy.next(-20) == Search("umh", 64)
    for _ in range(HOLD_FRAMES):
        assert policy.next(0) == Search("umh", 64)
    assert policy.next(0) == DEFAULT


def test_a_larger_move_widens_at_once() -> None:
    policy = MotionSearchPolicy()
    policy.next(-20)
    assert policy.next(-90) == Search("umh", 128)
