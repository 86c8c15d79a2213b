"""The byte budget, the quantizers and the REMB policy (host_agent.video.rate_control)."""

from __future__ import annotations

import pytest

from host_agent.video.rate_control import (
    CHANGE_DEBT_WINDOWS,
    MAX_QP,
    MIN_BITRATE,
    RECOVER_AFTER_S,
    WINDOW_S,
    BitrateTarget,
    FrameKind,
    RateController,
)

pytestmark = pytest.mark.unit

BASE, FINE = 20, 11


def test_new_content_gets_the_base_quantizer_while_the_bucket_is_half_full() -> None:
    """A full or half-full bucket: base QP; emptier: coarser, up to +12 when empty."""
    rate = RateController(8_000_000, now=0.0)
    assert rate.change_qp(0.0, BASE) == BASE
    rate.spent(0.0, FrameKind.CHANGE, 100, BASE, BASE, int(rate.capacity * 0.75))
    assert BASE < rate.change_qp(0.0, BASE) < BASE + 12
    rate.spent(0.0, FrameKind.CHANGE, 100, BASE, BASE, int(rate.capacity))
    assert rate.change_qp(0.0, BASE) == BASE + 12


def test_an_overspent_bucket_delays_frames_until_it_refills_in_real_time() -> None:
    """Spending 100 kB over the budget at 8 Mbit/s means 100 ms without frames."""
    rate = RateController(8_000_000, now=0.0)
    rate.spent(0.0, FrameKind.KEY, 3600, BASE, BASE, int(rate.capacity) + 100_000)
    assert rate.ready_at(0.0) == pytest.approx(0.1)
    assert rate.ready_at(0.1) == pytest.approx(0.1)
    assert rate.level == pytest.approx(0.0, abs=1)


def test_the_bucket_banks_at_most_its_window() -> None:
    """A long quiet spell refills the bucket to its capacity, not beyond."""
    rate = RateController(8_000_000, now=0.0)
    rate.spent(0.0, FrameKind.CHANGE, 10, BASE, BASE, 200_000)
    rate.ready_at(60.0)
    assert rate.level == pytest.approx(rate.capacity)


def test_a_refinement_takes_as_many_tiles_as_the_bucket_holds() -> None:
    """Refinements are never coarsened: the bucket decides how many tiles one frame
    re-codes, and when the next ones fit."""
    rate = RateController(1_000_000, now=0.0)  # 31 kB bucket, ~61 B per refined tile
    assert rate.refine_tiles(0.0) == pytest.approx(31_250 / 61, abs=1)
    rate.spent(0.0, FrameKind.REFINE, 500, FINE, FINE, int(rate.capacity))
    assert rate.refine_tiles(0.0) == 0
    ready = rate.refine_ready_at(0.0, 100)
    assert ready == pytest.approx(100 * 61 * 8 / 1_000_000, rel=0.01)
    assert rate.refine_tiles(ready) == 100


def test_a_keyframe_is_never_refused_only_coarser() -> None:
    """An IDR that does not fit the bucket gets a coarser quantizer, at most MAX_QP."""
    rate = RateController(1_000_000, now=0.0)
    qp = rate.key_qp(0.0, 3600, BASE)
    assert BASE < qp <= MAX_QP
    assert RateController(50_000_000, now=0.0).key_qp(0.0, 3600, BASE) == BASE


def test_sizes_teach_the_bytes_per_macroblock() -> None:
    """Refinements bigger than predicted raise the prediction for the next one."""
    rate = RateController(8_000_000, now=0.0)
    before = rate.per_mb[FrameKind.REFINE]
    rate.spent(0.0, FrameKind.REFINE, 1000, FINE, FINE, int(before * 1000 * 2))
    assert rate.per_mb[FrameKind.REFINE] > before


def test_an_estimate_of_an_app_limited_flow_does_not_lower_the_target() -> None:
    """REMB that just follows what we sent (a static screen) leaves the target alone."""
    target = BitrateTarget(8_000_000)
    for i, remb in enumerate((99_000, 102_000, 105_000, 108_000)):
        assert target.on_remb(remb, now=i * 0.25) == 8_000_000


def test_a_dropping_estimate_lowers_the_target_at_once() -> None:
    """The receiver backing off (REMB falling) is congestion: the target follows it down."""
    target = BitrateTarget(8_000_000)
    target.on_remb(3_000_000, now=0.0)
    assert target.on_remb(2_000_000, now=0.25) == 2_000_000
    assert target.on_remb(100_000, now=0.5) == MIN_BITRATE


def test_after_a_drop_the_target_climbs_back_towards_the_maximum() -> None:
    """Without probing, the target recovers by half a step a second after a quiet second."""
    target = BitrateTarget(8_000_000)
    target.on_remb(3_000_000, now=0.0)
    target.on_remb(1_000_000, now=0.1)
    assert target.current(0.1 + RECOVER_AFTER_S) == 1_000_000
    assert target.current(0.1 + RECOVER_AFTER_S + 1.0) == pytest.approx(1_500_000, rel=0.01)
    assert target.current(60.0) == 8_000_000


def test_a_rising_estimate_above_the_target_is_followed_up_to_the_maximum() -> None:
    """REMB above a lowered target raises it, never past the configured maximum."""
    target = BitrateTarget(4_000_000)
    target.on_remb(2_000_000, now=0.0)
    target.on_remb(500_000, now=0.1)
    assert target.on_remb(900_000, now=0.2) == 900_000
    assert target.on_remb(50_000_000, now=0.3) == 4_000_000


def test_a_huge_frame_at_a_low_target_delays_the_next_by_at_most_one_window() -> None:
    """The stall at 5 % loss: a keyframe of ~400 kB spent at a REMB-lowered 300 kbit/s
    used to hold every later frame (keep-alives and the asked-for IDR included) back
    for ~10 s; the debt is bounded by one window."""
    rate = RateController(300_000, now=0.0)
    rate.spent(0.0, FrameKind.KEY, 3600, BASE, MAX_QP, 400_000)
    assert rate.ready_at(0.0) <= WINDOW_S + 1e-9
    rate.set_bitrate(150_000, 0.1)
    assert rate.ready_at(0.1) <= 0.1 + WINDOW_S + 1e-9
    # A debt taken at a high rate does not become a long wait when the rate falls: at most
    # a second for new content.
    rate = RateController(8_000_000, now=0.0)
    rate.spent(0.0, FrameKind.CHANGE, 3600, BASE, BASE, 250_000)
    rate.set_bitrate(150_000, 0.0)
    assert rate.ready_at(0.0) <= CHANGE_DEBT_WINDOWS * WINDOW_S + 1e-9


def test_new_content_larger_than_the_target_allows_is_sent_at_the_target_not_above() -> None:
    """Frames of new content each larger than a window of the target (a panning photo at
    the coarsest quantizer, the estimate cut to 400 kbit/s): the stream slows to what the
    target carries instead of sending four such frames a second whatever it says."""
    rate = RateController(400_000, now=0.0)
    now, sent = 0.0, 0
    for _ in range(200):
        now = max(now, rate.ready_at(now))
        if now >= 10.0:
            break
        rate.spent(now, FrameKind.CHANGE, 3600, BASE, MAX_QP, 40_000)
        sent += 40_000
        now += 0.033  # the next change is there a frame later
    assert sent * 8 / 10.0 <= 1.1 * 400_000, f"{sent * 8 / 10.0:.0f} bit/s against 400 kbit/s"
    # Bigger still: never more than a second between new pictures.
    rate = RateController(150_000, now=0.0)
    rate.spent(0.0, FrameKind.CHANGE, 3600, BASE, MAX_QP, 500_000)
    assert rate.ready_at(0.0) <= CHANGE_DEBT_WINDOWS * WINDOW_S + 1e-9


def test_a_send_side_estimate_is_the_target_and_remb_no_longer_counts() -> None:
    target = BitrateTarget(8_000_000)
    assert target.on_estimate(2_500_000) == 2_500_000
    assert target.current(100.0) == 2_500_000  # no climbing back by itself: it probes
    target.on_remb(100_000, 100.0)
    target.on_remb(50_000, 101.0)
    assert target.current(101.0) == 2_500_000
    assert target.on_estimate(20_000_000) == 8_000_000
    assert target.on_estimate(1) == MIN_BITRATE


def test_a_full_bucket_always_affords_the_largest_refinement_batch() -> None:
    """When the learned cost per tile makes a batch of MIN_REFINE_TILES larger than the
    bucket, the batch shrinks to what a full bucket holds (else it waits forever)."""
    rate = RateController(1_000_000, now=0.0)  # 31 kB bucket
    rate.per_mb[FrameKind.REFINE] = 5_000.0  # 16 tiles would need 80 kB
    assert rate.max_refine_tiles() == 6
    rate.spent(0.0, FrameKind.CHANGE, 10, BASE, BASE, int(rate.capacity))
    ready = rate.refine_ready_at(0.0, rate.max_refine_tiles())
    assert rate.refine_tiles(ready + 1e-6) >= rate.max_refine_tiles()
    rate.per_mb[FrameKind.REFINE] = 50_000.0  # not even one tile fits
    assert rate.max_refine_tiles() == 1
    assert rate.refine_tiles(10.0) == 1  # full bucket
