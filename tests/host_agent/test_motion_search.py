"""The motion search chosen from the detected scroll (host_agent.video.motion_search)."""

from __future__ import annotations

import numpy as np
import pytest

from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.encode_pipeline import Codec, EncodePipeline
from host_agent.video.motion_search import (
    DEFAULT,
    HOLD_FRAMES,
    MotionSearchPolicy,
    Search,
    search_for,
)
from host_agent.video.scheduler import Plan
from host_agent.video.watermark import WatermarkIdentity

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


class _PannedPhoto:
    """A 640x360 window over a wide photo-like picture, moved sideways between grabs."""

    fresh_grabs = True

    def __init__(self) -> None:
        rng = np.random.default_rng(2)
        self.wide = rng.integers(0, 256, (360, 1400, 4), dtype=np.uint8)
        self.left = 0
        self.geometry = ScreenGeometry(0, 0, 640, 360)

    def grab(self, rect: Rect | None = None) -> BGRA:
        r = rect or Rect(0, 0, 640, 360)
        x = self.left + r.x
        return self.wide[r.y : r.y + r.h, x : x + r.w].copy()

    def close(self) -> None:
        pass


@pytest.mark.parametrize("marked", [False, True])
def test_a_sideways_pan_widens_the_encoders_search_as_a_scroll_does(marked: bool) -> None:
    """The pipeline hands the pan's |dx| to the policy: 40 columns a frame -> umh 64."""
    source = _PannedPhoto()
    identity = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
    pipeline = EncodePipeline(lambda: source, 60, 8_000_000, identity if marked else None)
    key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
    capture = Plan(at=0.0, capture=True, refine=False, keyframe=False)
    pipeline.produce(Codec.H264, key, None, 0, 8_000_000)
    source.left += 40
    pipeline.produce(Codec.H264, capture, None, 1500, 8_000_000)
    assert pipeline.scroll is not None
    assert (pipeline.scroll.dx, pipeline.scroll.dy) == (-40, 0)
    assert pipeline.encoder is not None
    assert pipeline.encoder.search == Search("umh", 64)
    pipeline.close()
