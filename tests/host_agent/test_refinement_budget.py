"""A refinement the byte budget can never hold in full is made smaller, not retried forever
(encode_pipeline.EncodePipeline._refinement): on a still screen the retries were the agent's
CPU."""

from __future__ import annotations

import numpy as np
import pytest

from host_agent.video.encode_pipeline import MIN_REFINE_TILES, EncodePipeline
from host_agent.video.rate_control import FrameKind
from host_agent.video.scheduler import Plan
from tests.host_agent.test_pipeline_scroll import PageSource

pytestmark = pytest.mark.unit


def test_a_refinement_larger_than_a_full_bucket_is_sent_in_parts() -> None:
    pipeline = EncodePipeline(PageSource, 60, 2_000_000, None)
    rows, cols = pipeline.picture.tile_rows, pipeline.picture.tile_cols
    # A learned cost per tile at which MIN_REFINE_TILES tiles exceed the (full) bucket.
    rate = pipeline.rate
    rate.per_mb[FrameKind.REFINE] = rate.capacity / (MIN_REFINE_TILES / 2)
    mask = np.zeros((rows, cols), dtype=np.bool_)
    mask[0, :MIN_REFINE_TILES] = True
    plan = Plan(at=0.0, capture=False, refine=True, keyframe=False, refine_mask=mask)
    refine, retry = pipeline._refinement(plan, np.zeros_like(mask), now=0.0)
    assert retry is None
    assert refine is not None
    assert 0 < int(refine.sum()) <= rate.max_refine_tiles() < MIN_REFINE_TILES
    pipeline.close()
