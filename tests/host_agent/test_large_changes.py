"""A large change is sized to the link (rate_control: ``LARGE_CHANGE_MBS``, ``FIT_WINDOWS``,
``QP_STEP``), and what was coded coarse stays so until it changes or is refined
(encode_pipeline's held quantizers). On the 2 Mbit/s bottleneck a panning photo coded at
QP 20-24 right after a keyframe at QP 42, or after a gap put its motion out of x264's
reach, took 100-186 kB a frame, each followed by a second's wait: 1-2 pictures a second."""

from __future__ import annotations

import numpy as np
import pytest

from host_agent.video.encode_pipeline import Codec, EncodePipeline
from host_agent.video.encoder import BASE_QP
from host_agent.video.rate_control import (
    FIT_WINDOWS,
    LARGE_CHANGE_MBS,
    MAX_QP,
    QP_STEP,
    STEP_WITHIN_S,
    FrameKind,
    RateController,
    scaled,
)
from host_agent.video.scheduler import Plan
from tests.host_agent.test_lossless_tiles_settle import Pages

pytestmark = pytest.mark.unit

SCREEN = 3600  # macroblocks of a 720p picture


def test_after_a_large_change_that_did_not_fit_the_next_is_fitted_and_small_ones_are_not() -> None:
    rate = RateController(1_000_000, now=0.0)  # a 31 kB window
    # Nothing learned yet: new content gets the floor with a full bucket.
    assert rate.change_qp(0.0, BASE_QP, SCREEN) == BASE_QP
    # A pan out of the search's reach, coded at the floor: 186 kB, six windows.
    rate.spent(0.0, FrameKind.CHANGE, SCREEN, BASE_QP, BASE_QP, 186_000)
    later = 2.0  # the bucket full again, the step rule long past
    qp = rate.change_qp(later, BASE_QP, SCREEN)
    predicted = scaled(rate.change_per_mb, SCREEN, BASE_QP, qp)
    assert BASE_QP + 6 < qp < MAX_QP
    assert predicted <= rate.capacity * (1 + FIT_WINDOWS)
    assert scaled(rate.change_per_mb, SCREEN, BASE_QP, qp - 1) > rate.capacity * (1 + FIT_WINDOWS)
    # Typing beside it costs little whatever the pan cost: the floor.
    assert rate.change_qp(later, BASE_QP, 12) == BASE_QP


def test_the_learned_cost_rises_at_once_and_falls_slowly() -> None:
    rate = RateController(8_000_000, now=0.0)
    rate.spent(0.0, FrameKind.CHANGE, SCREEN, BASE_QP, BASE_QP, 5_000)  # a pan in reach
    cheap = rate.change_per_mb
    rate.spent(1.0, FrameKind.CHANGE, SCREEN, BASE_QP, 26, 60_000)  # out of reach, at QP 26
    assert rate.change_per_mb == pytest.approx(60_000 / SCREEN * 2.0)
    dear = rate.change_per_mb
    rate.spent(2.0, FrameKind.CHANGE, SCREEN, BASE_QP, BASE_QP, 5_000)
    assert cheap < rate.change_per_mb < dear
    assert rate.change_per_mb > (cheap + dear) / 2  # one cheap frame does not undo it
    # Small changes teach it nothing (a caret's frame costs more per macroblock).
    before = rate.change_per_mb
    rate.spent(3.0, FrameKind.CHANGE, LARGE_CHANGE_MBS - 1, BASE_QP, BASE_QP, 400_000)
    assert rate.change_per_mb == before


def test_a_large_change_right_after_a_coarse_keyframe_is_at_most_one_step_finer() -> None:
    rate = RateController(50_000_000, now=0.0)  # the bucket holds anything
    rate.spent(0.0, FrameKind.KEY, SCREEN, BASE_QP, MAX_QP, 10_000)
    assert rate.change_qp(0.1, BASE_QP, SCREEN) == MAX_QP - QP_STEP
    assert rate.change_qp(0.1, BASE_QP, 12) == BASE_QP  # a small change: as always
    # Stepping down frame by frame.
    rate.spent(0.1, FrameKind.CHANGE, SCREEN, BASE_QP, MAX_QP - QP_STEP, 1_000)
    assert rate.change_qp(0.2, BASE_QP, SCREEN) == MAX_QP - 2 * QP_STEP
    # Long after it, the reference has been refined or replaced: the floor.
    assert rate.change_qp(0.1 + STEP_WITHIN_S + 0.01, BASE_QP, SCREEN) == BASE_QP


def _keep_alive(pipeline: EncodePipeline, pts: int) -> int:
    """A keep-alive with a full bucket (at the floor QP): its size in bytes."""
    pipeline.rate.level = pipeline.rate.capacity
    alive = Plan(at=0.0, capture=False, refine=False, keyframe=False, keepalive=True)
    produced = pipeline.produce(Codec.H264, alive, None, pts, pipeline.rate.bitrate)
    assert produced.qp == BASE_QP
    return produced.size


def test_a_coarse_keyframe_is_not_re_coded_by_the_next_keep_alive() -> None:
    source = Pages()
    source.page(0)
    pipeline = EncodePipeline(lambda: source, 60, 300_000)  # a 9 kB bucket
    try:
        key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
        produced = pipeline.produce(Codec.H264, key, None, 0, 300_000)
        assert produced.qp > BASE_QP + QP_STEP
        # At the floor it would sharpen the whole page (measured
        # 2.6x it before the keyframe's quantizer was held).
        assert _keep_alive(pipeline, 1500) < 0.05 * produced.size
    finally:
        pipeline.close()


def test_new_content_coded_under_pressure_is_not_re_coded_by_the_next_keep_alive() -> None:
    source = Pages()
    pipeline = EncodePipeline(lambda: source, 60, 2_000_000)
    try:
        key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
        pipeline.produce(Codec.H264, key, None, 0, 2_000_000)
        pipeline.rate.level = 0.0  # the bucket just spent: new content gets a coarser QP
        source.page(1)
        change = Plan(at=0.0, capture=True, refine=False, keyframe=False)
        produced = pipeline.produce(Codec.H264, change, None, 1500, 2_000_000)
        assert produced.qp > BASE_QP + QP_STEP
        assert np.count_nonzero(produced.changed) > 0.9 * produced.changed.size
        pipeline.rate._large_at -= 10.0  # the step rule aside: this is about the hold
        assert _keep_alive(pipeline, 3000) < 0.05 * produced.size
    finally:
        pipeline.close()
