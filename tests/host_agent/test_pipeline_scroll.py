"""A scroll through the encode pipeline (encode_pipeline.EncodePipeline) from a fake capture:
found on the unmarked pixels, the watermark moved with it, the motion search widened, the frame
small."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from host_agent.video import encode_pipeline
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect
from host_agent.video.encode_pipeline import Codec, EncodePipeline
from host_agent.video.motion_search import DEFAULT, HOLD_FRAMES, Search
from host_agent.video.scheduler import Plan
from host_agent.video.watermark import WatermarkIdentity
from tests.host_agent.test_scroll import PAGE

pytestmark = pytest.mark.unit

W, H = 640, 368
IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
NOON_UTC = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)


class PageSource:
    """A page of text seen through a window; ``top`` is the scroll position."""

    def __init__(self) -> None:
        self.top = 0

    @property
    def geometry(self) -> ScreenGeometry:
        return ScreenGeometry(0, 0, W, H)

    def grab(self, rect: Rect | None = None) -> BGRA:
        r = rect or Rect(0, 0, W, H)
        view = PAGE[self.top + r.y : self.top + r.y + r.h, r.x : r.x + r.w, :]
        return np.ascontiguousarray(view)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("marked", [False, True])
def test_a_fast_scroll_is_found_and_coded_as_motion(
    marked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One minute throughout: the mark's text does not change under the test.
    monkeypatch.setattr(encode_pipeline, "_utc_now", lambda: NOON_UTC)
    source = PageSource()
    pipeline = EncodePipeline(lambda: source, 60, 8_000_000, IDENTITY if marked else None)
    capture = Plan(at=0.0, capture=True, refine=False, keyframe=False)
    key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
    first = pipeline.produce(Codec.H264, key, None, 0, 8_000_000)
    marks = pipeline.watermark.mask_rect(0, 0, W, H) if pipeline.watermark else None
    sizes = []
    for i in range(1, 6):
        source.top += 45
        produced = pipeline.produce(Codec.H264, capture, None, i * 1500, 8_000_000)
        assert pipeline.scroll is not None
        assert pipeline.scroll.dy == -45
        assert pipeline.encoder is not None
        assert pipeline.encoder.search == Search("umh", 64)
        sizes.append(produced.size)
    assert pipeline.scrolls == 5
    # A move coded as motion: a small share of the keyframe's bytes. x264's threads make the
    # sizes vary from run to run (17-41 kB here against a 183 kB keyframe); a near-intra frame,
    # the failure this guards against, is close to the keyframe's size.
    assert max(sizes) * 4 < first.size, (sizes, first.size)
    if marked:
        # The mark moved with the page: it is where the page's pixels took it.
        assert pipeline.watermark is not None
        assert marks is not None
        moved = pipeline.watermark.mask_rect(0, 0, W, H)
        np.testing.assert_array_equal(moved[: H - 225], marks[225:])
        assert pipeline.watermark.renders == 1
    # Slow scrolling: after the hold the search falls back to the cheap one.
    for i in range(6, 6 + HOLD_FRAMES + 1):
        source.top += 2
        pipeline.produce(Codec.H264, capture, None, i * 1500, 8_000_000)
    assert pipeline.encoder is not None
    assert pipeline.encoder.search == DEFAULT
    pipeline.close()
