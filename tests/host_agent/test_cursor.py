"""Cursor messages (host_agent.video.cursor): closed forms, sizes, colours."""

from __future__ import annotations

import base64
import json

import pytest

from host_agent.video.cursor import (
    MAX_CURSOR,
    POLL_HZ,
    REST_POLL_S,
    STILL_AFTER_S,
    PollPace,
    position_message,
    shape_message,
)

pytestmark = pytest.mark.unit


def test_a_position_is_three_fields_and_a_type() -> None:
    """Positions are numbers and a flag, nothing else."""
    assert json.loads(position_message(10, 20, True)) == {
        "t": "cursor",
        "x": 10,
        "y": 20,
        "v": True,
    }


def test_a_shape_is_straight_alpha_rgba_of_the_stated_size() -> None:
    """Premultiplied ARGB32 from XFixes becomes straight RGBA, w*h*4 bytes, in base64."""
    argb = [0xFF102030, 0x80402010, 0x00000000, 0xFFFFFFFF]
    data = json.loads(shape_message(5, 2, 2, 1, 0, argb))
    assert (data["t"], data["id"], data["w"], data["h"], data["hx"], data["hy"]) == (
        "shape",
        5,
        2,
        2,
        1,
        0,
    )
    rgba = base64.b64decode(data["rgba"])
    assert list(rgba) == [0x10, 0x20, 0x30, 255, 127, 63, 31, 128, 0, 0, 0, 0, 255, 255, 255, 255]


def test_a_large_cursor_is_cropped_around_its_hotspot() -> None:
    """Cursors larger than 64 px keep the 64x64 area around the hotspot."""
    data = json.loads(shape_message(1, 100, 80, 90, 5, [0xFF000000] * 8000))
    assert (data["w"], data["h"]) == (MAX_CURSOR, MAX_CURSOR)
    assert (data["hx"], data["hy"]) == (90 - 36, 5)
    assert len(base64.b64decode(data["rgba"])) == MAX_CURSOR * MAX_CURSOR * 4


def test_a_pixel_count_that_does_not_match_the_size_is_refused() -> None:
    """A short or empty image is an error, not a garbled message."""
    with pytest.raises(ValueError, match="size"):
        shape_message(1, 4, 4, 0, 0, [0] * 15)
    with pytest.raises(ValueError, match="size"):
        shape_message(1, 0, 0, 0, 0, [])


@pytest.mark.parametrize("still_for", [0.0, STILL_AFTER_S / 2])
def test_a_moving_pointer_is_polled_at_the_full_rate(still_for: float) -> None:
    """A move, or one less than STILL_AFTER_S ago, keeps the 60 Hz poll."""
    pace = PollPace()
    assert pace.next_delay(10.0, moved=True) == 1 / POLL_HZ
    assert pace.next_delay(10.0 + still_for, moved=False) == 1 / POLL_HZ


def test_a_still_pointer_is_polled_at_the_rest_rate_until_it_moves() -> None:
    """Still for STILL_AFTER_S: the slow poll (no 60 round trips a second on a still
    screen); the first poll that finds a move goes back to the full rate."""
    pace = PollPace()
    assert pace.next_delay(0.0, moved=False) == REST_POLL_S  # never moved: at rest
    pace.next_delay(1.0, moved=True)
    assert pace.next_delay(1.0 + STILL_AFTER_S, moved=False) == REST_POLL_S
    assert REST_POLL_S > 1 / POLL_HZ
    assert pace.next_delay(5.0, moved=True) == 1 / POLL_HZ
