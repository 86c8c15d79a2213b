"""The bottleneck rate from the pacer's trains (host_agent.webrtc.dispersion), and what the
estimator does with it on the synthetic link (tests/host_agent/cc_link.py)."""

from __future__ import annotations

import pytest

from host_agent.webrtc.dispersion import FLOOR_AGE_S, PROBE, SPREAD, LinkDispersion
from host_agent.webrtc.estimator import BandwidthEstimator
from host_agent.webrtc.transport_cc import PacketResult
from tests.host_agent.cc_link import Frames, Phase, run

pytestmark = pytest.mark.unit

SIZE = 1200


def train(
    start_seq: int, send_at: float, send_bps: float, link_bps: float, packets: int,
    lost: frozenset[int] = frozenset(),
) -> list[PacketResult]:  # fmt: skip
    """``packets`` sent at ``send_bps`` through a FIFO link of ``link_bps`` (30 ms away)."""
    results = []
    free = 0.0
    for i in range(packets):
        send = send_at + i * SIZE * 8 / send_bps
        free = max(free, send) + SIZE * 8 / link_bps
        arrival = None if i in lost else free + 0.03
        results.append(PacketResult(start_seq + i, send, SIZE, arrival))
    return results


def test_a_train_faster_than_the_link_arrives_spread_to_its_rate() -> None:
    dispersion = LinkDispersion()
    rate = dispersion.update(train(0, 1.0, 5e6, 2e6, 8), now=1.1)
    assert rate == pytest.approx(2e6, rel=0.01)
    assert dispersion.samples == 1


def test_a_train_slower_than_the_link_only_says_it_carries_at_least_that() -> None:
    dispersion = LinkDispersion()
    assert dispersion.update(train(0, 1.0, 1.5e6, 20e6, 8), now=1.1) is None
    assert dispersion.carried == pytest.approx(1.5e6, rel=0.01)


def test_a_train_well_above_the_known_rate_means_the_link_widened() -> None:
    dispersion = LinkDispersion()
    dispersion.update(train(0, 1.0, 5e6, 2e6, 8), now=1.1)
    # 1.1x the known rate, unspread: within noise, the rate stays.
    assert dispersion.update(train(8, 2.0, 2.2e6, 20e6, 8), now=2.1) is not None
    # One faster train is not enough (a receiver's batch can look like one), two are.
    assert dispersion.update(train(16, 3.0, 3e6, 20e6, 8), now=3.1) is not None
    assert dispersion.update(train(24, 4.0, 3e6, 20e6, 8), now=4.1) is None
    assert dispersion.widenings == 1


def test_a_train_stamped_faster_than_it_was_sent_says_nothing() -> None:
    """A busy receiver reads a burst of packets late and stamps them together: the train
    seems to arrive faster than it left, which no link does."""
    dispersion = LinkDispersion()
    dispersion.update(train(0, 1.0, 5e6, 2e6, 8), now=1.1)
    for n in range(3):
        sent = train(8 + 8 * n, 2.0 + n, 3e6, 20e6, 8)
        batched = [PacketResult(r.sequence, r.send_time, r.size, 2.1 + n + i * 0.0005)
                   for i, r in enumerate(sent)]  # fmt: skip
        assert dispersion.update(batched, now=2.2 + n) is not None
    assert dispersion.widenings == 0
    assert dispersion.carried is None


def test_losses_split_trains_and_short_ones_say_nothing() -> None:
    dispersion = LinkDispersion()
    # Every other packet lost: no three consecutive arrivals.
    assert dispersion.update(train(0, 1.0, 5e6, 2e6, 8, frozenset({1, 3, 5, 7})), 1.1) is None
    # Two packets: under MIN_PACKETS.
    assert dispersion.update(train(8, 2.0, 5e6, 2e6, 2), now=2.1) is None
    # Three packets through 20 Mbit/s arrive within ~1 ms: too short to read.
    assert dispersion.update(train(10, 3.0, 50e6, 20e6, 3), now=3.1) is None
    assert dispersion.samples == 0


def test_an_unconfirmed_rate_is_forgotten() -> None:
    dispersion = LinkDispersion()
    dispersion.update(train(0, 1.0, 5e6, 2e6, 8), now=1.1)
    assert dispersion.update([], now=5.0) is not None
    assert dispersion.update([], now=11.2) is None


def test_a_framed_sender_settles_under_a_2mbit_link_without_a_queue() -> None:
    """Frames paced at 2.5x the target through 2 Mbit/s (200 ms queue): growth stops just
    under the rate the trains measured, so the queue never builds. Growing blind, it went
    to 2.07 Mbit/s, queued 35 ms and was cut 7 times in the same 40 s."""
    estimator, trace = run([Phase(0, 2e6)], 40, frames=Frames(lump_every=10**6, lump=1))
    after = [t for time, t in zip(trace.times, trace.targets, strict=True) if time >= 5]
    assert max(after) < 1.9e6
    assert trace.max_queue_delay(after=5) < 0.02
    assert estimator.stats.delay_drops == 0
    assert trace.goodput(20, 40) > 1.7e6


def test_an_unknown_bottleneck_is_probed_with_faster_trains_until_one_spreads() -> None:
    """A LAN: trains paced at 2.5x a 1.5 Mbit/s estimate pass unspread. Each next train goes
    PROBE x faster than the fastest that passed, until the 12 Mbit/s link spreads one; then
    the rate is measured and the pacer goes back to the estimate (probe_rate None)."""
    link, pace, ceiling = 12e6, 3.75e6, 20e6
    dispersion = LinkDispersion()
    sent_at = []
    for n in range(10):
        sent_at.append(pace)
        dispersion.update(train(20 * n, 1.0 + 0.1 * n, pace, link, 20), now=1.05 + 0.1 * n)
        probe = dispersion.probe_rate(now=1.05 + 0.1 * n)
        if probe is None:
            break
        assert probe == pytest.approx(PROBE * dispersion.floor)  # type: ignore[operator]
        pace = max(pace, min(probe, ceiling))
    assert dispersion.rate == pytest.approx(link, rel=0.02)
    assert dispersion.floor is None
    # 3.75, 5.6, 8.4, 12.7 (arrived at 12: within the spread margin), then 19: spread.
    assert len(sent_at) == 5
    assert max(sent_at) < PROBE * link / SPREAD


def test_the_probe_floor_goes_with_age_and_drops() -> None:
    dispersion = LinkDispersion()
    dispersion.update(train(0, 1.0, 4e6, 100e6, 20), now=1.1)
    assert dispersion.probe_rate(now=1.1) == pytest.approx(PROBE * 4e6, rel=0.01)
    # A slower train does not lower it, nor renew it.
    dispersion.update(train(20, 2.0, 2e6, 100e6, 20), now=2.1)
    assert dispersion.probe_rate(now=2.1) == pytest.approx(PROBE * 4e6, rel=0.01)
    assert dispersion.probe_rate(now=1.1 + FLOOR_AGE_S + 0.1) is None
    dispersion.forget_floor()  # the estimator dropped: the path is full
    assert dispersion.probe_rate(now=2.2) is None


def test_a_delay_drop_forgets_the_probe_floor() -> None:
    estimator = BandwidthEstimator(0.0, 8_000_000)
    estimator.update(train(0, 0.0, 4e6, 100e6, 20), now=0.1, rtt=0.05)
    assert estimator.dispersion.probe_rate(now=0.1) is not None
    # The queue grows: each packet arrives 2 ms later than its spacing would say. Packets
    # 12 ms apart make no train (TRAIN_GAP_S), so nothing is spread: only the drop can
    # forget the floor.
    seq, send = 20, 0.2
    for _ in range(40):
        results = []
        for _ in range(4):
            results.append(PacketResult(seq, send, SIZE, send + 0.03 + 0.002 * (seq - 20)))
            seq, send = seq + 1, send + 0.012
        estimator.update(results, now=send + 0.03, rtt=0.05)
        if estimator.stats.delay_drops:
            break
    assert estimator.stats.delay_drops >= 1
    assert estimator.dispersion.samples == 0
    assert estimator.dispersion.probe_rate(now=send) is None
