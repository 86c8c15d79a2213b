"""One large frame (a page switch) must not read as congestion on a path without a limit,
and a queue it builds on a thin path still must.

The sender is the agent's own: ``Pacer`` at 2.5x the target and ``SentPackets``, polled
on a ~1 ms event loop; the feedback goes through the real wire format every 60 ms (as
Chromium sends it). A quiet screen sends a small packet every 0.5 s, then one 200 kB
frame goes. The path is loopback-like (0.1 ms), but the receiver reads its socket only
between stalls (a loaded 2-core machine: Chromium's network thread descheduled for tens
of ms), so packets held up together arrive at once: the estimator's inputs from a page
switch in a loaded loopback run. Before the inter-arrival bursts were grouped
(``delay_trend``), that read as overuse, and the drop, started from a window that held
mostly the quiet screen, took the target to the floor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from host_agent.webrtc.delay_trend import DelayTrend, Usage
from host_agent.webrtc.estimator import AckedBitrate, BandwidthEstimator
from host_agent.webrtc.pacer import Pacer
from host_agent.webrtc.transport_cc import (
    PacketResult,
    SentPackets,
    build_feedback,
    parse_feedback,
)

pytestmark = pytest.mark.unit

PACKET = 1200
FRAME = 200_000
SWITCH_AT = 2.0
FEEDBACK_S = 0.060
TICK_S = 0.0012
PROPAGATION_S = 0.0001
START = 2_000_000


def stalled_reader(period: float, stall: float) -> Callable[[float], float]:
    """When a packet that reached the receiver at ``t`` is read: at once, unless the reader
    is descheduled then (the last ``stall`` s of every ``period``), then when it wakes."""

    def read_at(t: float) -> float:
        phase = t % period
        return t if phase < period - stall else t - phase + period

    return read_at


@dataclass
class Run:
    estimator: BandwidthEstimator
    targets: list[tuple[float, int]] = field(default_factory=list)

    def before_switch(self) -> int:
        return [t for at, t in self.targets if at < SWITCH_AT][-1]

    def lowest_after_switch(self) -> int:
        return min(t for at, t in self.targets if at >= SWITCH_AT)


def page_switch(
    read_at: Callable[[float], float], capacity: float | None = None, seconds: float = 5.0
) -> Run:
    """A quiet screen, one ``FRAME`` at ``SWITCH_AT``, quiet again; ``capacity`` (bit/s)
    puts a FIFO bottleneck on the path (None: no limit)."""
    estimator = BandwidthEstimator(0.0, 8_000_000, start_bitrate=START)
    pacer: Pacer[int] = Pacer(estimator.target, 0.0)
    sent = SentPackets()
    run = Run(estimator)
    in_flight: list[tuple[int, float]] = []  # (sequence, read by the receiver at)
    link_free = 0.0
    last_quiet, next_feedback, switched = -1.0, FEEDBACK_S, False
    step = 0
    while (now := step * TICK_S) < seconds:
        step += 1
        if not switched and now >= SWITCH_AT:
            switched = True
            for _ in range(FRAME // PACKET):
                pacer.push(PACKET, PACKET, now)
        if now - last_quiet >= 0.5:  # the banner's redraw, a keepalive: a small packet
            pacer.push(120, 120, now)
            last_quiet = now
        while (size := pacer.pop(now)) is not None:
            sequence = sent.next_sequence(now, size)
            leaves = now
            if capacity is not None:
                leaves = max(now, link_free) + size * 8 / capacity
                link_free = leaves
            in_flight.append((sequence, read_at(leaves + PROPAGATION_S)))
        if now >= next_feedback:
            next_feedback += FEEDBACK_S
            ready = sorted(p for p in in_flight if p[1] <= now)
            if not ready:
                continue
            in_flight = [p for p in in_flight if p[1] > now]
            base = ready[0][0]
            arrivals: list[float | None] = [None] * (ready[-1][0] - base + 1)
            for sequence, read in ready:
                arrivals[sequence - base] = read
            results = sent.results(parse_feedback(build_feedback(base, arrivals)))
            target = estimator.update(results, now, 0.002)
            pacer.set_bitrate(target, now)
            run.targets.append((now, target))
    return run


@pytest.mark.parametrize(("period", "stall"), [(0.1, 0.04), (0.1, 0.06), (0.07, 0.03)])
def test_one_large_frame_on_a_path_without_a_limit_keeps_the_target(
    period: float, stall: float
) -> None:
    run = page_switch(stalled_reader(period, stall))
    before = run.before_switch()
    assert before >= START
    assert run.estimator.stats.delay_drops == 0
    assert run.lowest_after_switch() >= before, (
        f"a page switch on a free path lowered the target {before} -> {run.lowest_after_switch()}"
    )


def test_the_same_frame_through_a_thin_link_still_lowers_the_target() -> None:
    # 1 Mbit/s: the frame's 1.6 s of bytes queue at the bottleneck, as a real uplink.
    run = page_switch(lambda t: t, capacity=1_000_000)
    assert run.estimator.stats.delay_drops >= 1
    lowest = run.lowest_after_switch()
    assert lowest < 1_000_000, f"the queue was not read as overuse (lowest {lowest})"
    # Dropped from what the link passed while busy, not to the quiet screen's trickle
    # (the old estimator went to the floor, 150 kbit/s, here).
    assert lowest > 400_000, f"the drop overshot: {lowest}"


def test_packets_released_together_after_a_stall_are_one_burst() -> None:
    """Groups every 5 ms on a free path; the receiver stalls 40 ms of every 100 and reads
    what arrived meanwhile at once: no queue grew, so no overuse."""
    read_at = stalled_reader(0.1, 0.04)
    trend = DelayTrend()
    results = []
    for i in range(400):
        send = i * 0.005
        results.append(PacketResult(i, send, PACKET, read_at(send + PROPAGATION_S)))
    usages = [trend.update(results[i : i + 12]) for i in range(0, 400, 12)]
    assert Usage.OVERUSING not in usages


def test_the_rate_while_flowing_leaves_the_quiet_screen_out() -> None:
    """A keepalive, 0.4 s of nothing, then 0.1 s of a frame at 9.6 Mbit/s: the window's
    rate is diluted by the quiet, the rate while flowing is the frame's."""
    acked = AckedBitrate()
    acked.add(0.0, 120)
    for i in range(100):
        acked.add(0.4 + i * 0.001, 1200)
    window = acked.bitrate()
    assert window is not None
    assert window < 2.5e6
    busy = acked.busy_bitrate()
    assert busy is not None
    assert busy == pytest.approx(9.6e6, rel=0.02)
