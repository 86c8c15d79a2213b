"""The send-side estimate (host_agent.webrtc.estimator + delay_trend) over synthetic traces
(tests/host_agent/cc_link.py: a sender at the target, a FIFO bottleneck, real feedback
bytes): a steady wide link, a 2 Mbit/s bottleneck with a 200 ms queue, a link widening to
20 Mbit/s, random loss that is not congestion, and loss bursts that are."""

from __future__ import annotations

import pytest

from host_agent.webrtc.delay_trend import DelayTrend, Usage
from host_agent.webrtc.estimator import (
    FAST_GROWTH,
    MIN_BITRATE,
    START_BITRATE,
    AckedBitrate,
    BandwidthEstimator,
    Rate,
)
from host_agent.webrtc.transport_cc import PacketResult
from tests.host_agent.cc_link import Frames, Phase, run

pytestmark = pytest.mark.unit

MAX = 8_000_000


def test_steady_wide_link_reaches_the_maximum_and_stays() -> None:
    estimator, trace = run([Phase(0, 50e6)], 30)
    assert trace.target_at(10) == MAX
    assert min(trace.targets[len(trace.targets) // 2 :]) == MAX
    assert estimator.stats.delay_drops == 0
    assert estimator.stats.loss_drops == 0
    assert trace.max_queue_delay(after=0) < 0.01


def test_bottleneck_2mbit_settles_below_it_without_a_standing_queue() -> None:
    estimator, trace = run([Phase(0, 2e6)], 40)
    after = [t for time, t in zip(trace.times, trace.targets, strict=True) if time >= 5]
    assert max(after) < 2.6e6, "the target keeps overshooting the bottleneck"
    settled = [t for time, t in zip(trace.times, trace.targets, strict=True) if time >= 20]
    assert sum(settled) / len(settled) < 2e6
    assert min(settled) > 1e6, "the target collapsed far below the link"
    # No standing queue: queueing delay after 5 s stays well under the 200 ms queue.
    assert trace.max_queue_delay(after=5) < 0.15
    assert trace.goodput(20, 40) > 1.4e6
    assert estimator.stats.delay_drops >= 1


def test_widening_link_is_found_within_ten_seconds() -> None:
    _, trace = run([Phase(0, 2e6), Phase(20, 20e6)], 40)
    assert trace.target_at(19.9) < 2.2e6
    assert trace.target_at(30) >= 6e6, f"only {trace.target_at(30)} 10 s after widening"
    assert trace.target_at(40) == MAX


def test_a_lumpy_sender_finds_a_widened_link_within_five_seconds() -> None:
    """A screen's frames, every 25th eight times the others, paced at 2.5x the target: the
    lumps queue at a 2 Mbit/s link and read as overuse with the average well under it, so
    the capacity learnt at those drops is low (~1.7 Mbit/s acknowledged). After the link
    widens, the paced trains arrive unspread, faster than that band: growth is fast at
    once (it took 7 s to 3 Mbit/s here creeping through the band; 9-10 s on the emulated
    link)."""
    estimator, trace = run([Phase(0, 2e6), Phase(25, 20e6)], 45, frames=Frames())
    assert estimator.stats.delay_drops >= 10, "harness: the lumps no longer read as overuse"
    assert trace.target_at(24.9) < 2e6
    assert trace.max_queue_delay(after=5) < 0.15
    assert trace.target_at(30) >= 3e6, [trace.target_at(t) for t in range(25, 34)]


def test_random_loss_of_5_percent_is_not_congestion() -> None:
    estimator, trace = run([Phase(0, 50e6, loss=0.05)], 30, seed=3)
    assert trace.target_at(15) == MAX
    assert min(trace.targets[len(trace.targets) // 2 :]) >= 0.8 * MAX
    assert estimator.stats.lost > 0


def test_loss_bursts_cut_the_rate_and_it_recovers() -> None:
    def burst(t: float) -> bool:
        return 10 <= t < 12

    estimator, trace = run([Phase(0, 50e6, burst_loss=0.3)], 30, burst=burst)
    assert trace.target_at(9.9) == MAX
    during = [t for time, t in zip(trace.times, trace.targets, strict=True) if 10 <= time <= 13]
    assert min(during) < 0.7 * MAX, "a 30 % loss burst did not cut the rate"
    assert estimator.stats.loss_drops >= 1
    assert trace.target_at(30) >= 0.9 * MAX, "the rate did not recover after the burst"


def test_an_idle_screen_does_not_talk_the_estimate_up_or_down() -> None:
    # A mostly static screen sends 200 kbit/s: the estimate must not grow beyond what it
    # tried (1.5x + a margin) nor collapse.
    _, trace = run([Phase(0, 50e6)], 20, app_limit=lambda t: 200_000)
    assert max(trace.targets) <= START_BITRATE
    assert min(trace.targets) >= MIN_BITRATE


def test_trend_reads_a_growing_queue_as_overuse() -> None:
    trend = DelayTrend()
    results = []
    # Groups every 10 ms, each arriving 2 ms later than the last: a queue growing.
    for i in range(60):
        results.append(PacketResult(i, i * 0.010, 1200, 1.0 + i * 0.012))
    assert trend.update(results) is Usage.OVERUSING


def test_trend_reads_a_steady_path_as_normal() -> None:
    trend = DelayTrend()
    results = [PacketResult(i, i * 0.010, 1200, 1.0 + i * 0.010) for i in range(100)]
    assert trend.update(results) is Usage.NORMAL


def test_trend_reads_a_draining_queue_as_underuse() -> None:
    trend = DelayTrend()
    results = [PacketResult(i, i * 0.010, 1200, 2.0 + i * 0.008) for i in range(60)]
    assert trend.update(results) is Usage.UNDERUSING


def test_acked_bitrate_needs_half_a_window() -> None:
    acked = AckedBitrate()
    acked.add(0.0, 1250)
    acked.add(0.1, 1250)
    assert acked.bitrate() is None
    for i in range(11, 80):
        acked.add(i * 0.01, 1250)  # 1 Mbit/s
    rate = acked.bitrate()
    assert rate is not None
    assert 0.9e6 < rate < 1.1e6


def test_growth_far_below_the_learnt_capacity_is_fast_near_it_careful() -> None:
    """A target left far under what the link carried at its drops (a narrow link that has
    widened, a quiet screen) grows by FAST_GROWTH a second; within the band around the
    capacity, by a packet per response time."""
    estimator = BandwidthEstimator(0.0, MAX)
    for _ in range(20):
        estimator.capacity.on_drop(2_000_000)
    assert estimator.capacity.far_below(1_300_000)
    assert not estimator.capacity.far_below(1_990_000)
    for start, fast in ((1_300_000, True), (1_950_000, False)):
        estimator.delay_based = float(start)
        estimator.state = Rate.INCREASE
        estimator.acked = AckedBitrate()
        for i in range(60):  # 0.6 s of packets at 3 Mbit/s, room for 1.5x headroom
            estimator.acked.add(i * 0.01, 3750)
        estimator._delay_update(Usage.NORMAL, 1.0, 0.5, 0.05)
        grown = estimator.delay_based / start
        if fast:
            assert grown == pytest.approx(FAST_GROWTH**0.5, rel=1e-6)
        else:
            assert grown < 1.02, grown  # ~9,600 bits / 0.15 s x 0.5 s: 32 kbit/s
