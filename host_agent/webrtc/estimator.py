"""The bitrate the link carries now, from transport-cc feedback: delay and loss (pure).

Fed with each feedback's ``PacketResult``s, it keeps three figures and targets the lower:

- **Acknowledged bitrate**: what the receiver got over the last ``ACKED_WINDOW_S``.
- **Delay-based** (AIMD on ``delay_trend``): on *overuse* the target drops to ``BETA`` of
  the acknowledged bitrate (what the bottleneck passes, minus room for its queue to drain),
  at most once per round trip; on *underuse* it holds (the queue is draining); on *normal*
  it grows: additively (about a packet per response time) within ``CAPACITY_SIGMAS`` of the
  link capacity learnt from earlier drops, multiplicatively by ``FAST_GROWTH`` per second
  farther from it, above or below (libwebrtc grows additively anywhere below and relies on
  probes to find a widened link; without probes, a target far under the known capacity
  crept back at ~60 kbit/s a second: 10 s from 1.3 to 2 Mbit/s after a link widened).
  Growth stops at ``LINK_SHARE`` of the bottleneck rate the pacer's own trains measured
  (``dispersion.py``), and that measurement outranks the capacity learnt at drops: a
  screen's lumpy frames read as overuse well under the link (on the emulated 2 Mbit/s
  bottleneck the drops came at 1.2-1.6 Mbit/s acknowledged while the trains arrived at
  1.8-2.0), so the capacity learnt there was too low and, after the link widened to
  20 Mbit/s, growth crept through its band for 5-7 s (the network test's 10 s climb failed
  in CI); while growth that forgot it overshot the link and queued 70-120 ms. A train that
  passes faster than the band, or 1.2x faster than the measured link, forgets both. Growth
  never goes past ``1.5 x`` the acknowledged bitrate (a screen that sends little must not
  talk itself into a rate it never tried); drops are never limited.
- **Loss-based**: over windows of at least ``LOSS_WINDOW_S`` and ``LOSS_MIN_PACKETS``: loss
  over ``LOSS_HIGH`` cuts the rate by half the loss; under ``LOSS_LOW`` it grows back
  (``FAST_GROWTH``); between, it holds. It sets no limit until loss first cuts it. Random
  loss on a radio link (a few %) is not congestion and is left to NACK/RTX, but a queue
  that overflows shows as loss over 10 %.

Deviation from libwebrtc, deliberate: there are no probe clusters of padding. libwebrtc
finds a wider link by sending them; here every frame's paced train is read as one
(``dispersion.py``; while no train has been spread, the pacer sends the next ones faster:
``LinkDispersion.probe_rate``) and the multiplicative phase is faster (``FAST_GROWTH``),
so a link that widens is found within seconds, and the estimate starts at
``START_BITRATE`` rather than 300 kbit/s.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from host_agent.webrtc.delay_trend import DelayTrend, Usage
from host_agent.webrtc.dispersion import LinkDispersion
from host_agent.webrtc.transport_cc import PacketResult

MIN_BITRATE: Final = 150_000
START_BITRATE: Final = 1_500_000
ACKED_WINDOW_S: Final = 0.5
BETA: Final = 0.85
FAST_GROWTH: Final = 1.25  # per second, far from the known capacity
ACKED_HEADROOM: Final = 1.5
ACKED_HEADROOM_BPS: Final = 10_000
PACKET_BITS: Final = 1200 * 8
MIN_DECREASE_INTERVAL_S: Final = 0.2
DEFAULT_RTT_S: Final = 0.1
LOSS_WINDOW_S: Final = 0.5
LOSS_MIN_PACKETS: Final = 100
LOSS_LOW: Final = 0.02
LOSS_HIGH: Final = 0.10
# Weight of each closed loss window in ``loss_fraction`` (about 2 s of memory at 0.5 s).
LOSS_SMOOTHING: Final = 0.3
# Link capacity: an average of the acknowledged bitrate at drops, and how far apart they are.
CAPACITY_SMOOTHING: Final = 0.95
CAPACITY_SIGMAS: Final = 3.0
CAPACITY_VAR_MIN: Final = 0.4
CAPACITY_VAR_MAX: Final = 2.5
# Growth stops at this share of the bottleneck rate the pacer's trains measured.
LINK_SHARE: Final = 0.9


class Rate(Enum):
    HOLD = "hold"
    INCREASE = "increase"
    DECREASE = "decrease"


@dataclass
class EstimatorStats:
    feedbacks: int = 0
    packets: int = 0
    lost: int = 0
    delay_drops: int = 0
    loss_drops: int = 0


class AckedBitrate:
    """Bytes the receiver got over the last ``ACKED_WINDOW_S`` of its clock."""

    def __init__(self) -> None:
        self._arrivals: deque[tuple[float, int]] = deque()
        self._bytes = 0

    def add(self, arrival: float, size: int) -> None:
        self._arrivals.append((arrival, size))
        self._bytes += size
        while self._arrivals and self._arrivals[0][0] < arrival - ACKED_WINDOW_S:
            self._bytes -= self._arrivals.popleft()[1]

    def bitrate(self) -> int | None:
        """None until the window has filled once (a single burst says nothing)."""
        if len(self._arrivals) < 2:
            return None
        span = self._arrivals[-1][0] - self._arrivals[0][0]
        if span < ACKED_WINDOW_S / 2:
            return None
        # The first packet's bytes arrived before the span began.
        return int((self._bytes - self._arrivals[0][1]) * 8 / span)


class LinkCapacity:
    """What the bottleneck passed when it last overflowed: a mean (bit/s) and a variance
    normalised by it (kbit/s units, bounded), so the band where growth is additive stays
    narrow: a few % of the rate, not a guess that spans the link widening."""

    def __init__(self) -> None:
        self.mean: float | None = None
        self._var = CAPACITY_VAR_MAX

    def _deviation(self) -> float:
        return math.sqrt(self._var * (self.mean or 0.0) / 1000) * 1000

    def on_drop(self, acked: float) -> None:
        if self.mean is None:
            self.mean = acked
            return
        if acked < self.mean - CAPACITY_SIGMAS * self._deviation():
            self.mean = acked  # far below: the link narrowed, start again from here
        else:
            self.mean = CAPACITY_SMOOTHING * self.mean + (1 - CAPACITY_SMOOTHING) * acked
        error_kbps = (self.mean - acked) / 1000
        var = CAPACITY_SMOOTHING * self._var + (1 - CAPACITY_SMOOTHING) * error_kbps**2 / max(
            self.mean / 1000, 1.0
        )
        self._var = min(CAPACITY_VAR_MAX, max(CAPACITY_VAR_MIN, var))

    def near(self, bitrate: float) -> bool:
        return self.mean is not None and bitrate <= self.mean + CAPACITY_SIGMAS * self._deviation()

    def far_below(self, bitrate: float) -> bool:
        """Well under what the link carried at its last drops: growth there risks nothing
        known, so it need not creep (a target left low by a narrow link that has widened,
        or by a quiet screen, would take tens of seconds back at a packet per round trip)."""
        return self.mean is not None and bitrate < self.mean - CAPACITY_SIGMAS * self._deviation()

    def forget_if_above(self, bitrate: float) -> None:
        """Sending or acknowledged far above what we thought the link carries: it widened."""
        if self.mean is not None and not self.near(bitrate):
            self.mean = None


class BandwidthEstimator:
    """The sending target from transport-cc feedback (``update``), between the bounds."""

    def __init__(self, now: float, max_bitrate: int, start_bitrate: int = START_BITRATE) -> None:
        self.max_bitrate = max(MIN_BITRATE, max_bitrate)
        start = min(self.max_bitrate, max(MIN_BITRATE, start_bitrate))
        self.delay_based = float(start)
        self.loss_based = float(self.max_bitrate)  # no limit until loss says otherwise
        self.trend = DelayTrend()
        self.acked = AckedBitrate()
        self.capacity = LinkCapacity()
        self.dispersion = LinkDispersion()
        self.state = Rate.INCREASE
        self.stats = EstimatorStats()
        self._last_time = now
        self._last_decrease = -math.inf
        self._loss_window: list[tuple[int, int]] = []  # (sent, lost) per feedback
        self._loss_window_start = now
        self._last_loss_decrease = -math.inf
        # Smoothed loss over the closed windows (what FEC's share follows: fec_policy.py).
        self.loss_fraction = 0.0

    @property
    def target(self) -> int:
        return int(min(self.delay_based, self.loss_based))

    def update(self, results: Sequence[PacketResult], now: float, rtt: float | None) -> int:
        """One feedback's packets at ``now`` (our clock); returns the new target (bit/s)."""
        rtt = rtt if rtt and rtt > 0 else DEFAULT_RTT_S
        self.stats.feedbacks += 1
        lost = sum(1 for r in results if r.arrival is None)
        self.stats.packets += len(results)
        self.stats.lost += lost
        received = sorted((r.arrival, r.size) for r in results if r.arrival is not None)
        for arrival, size in received:
            self.acked.add(arrival, size)
        self.dispersion.update(results, now)
        usage = self.trend.update(results)
        elapsed = min(max(0.0, now - self._last_time), 1.0)
        self._last_time = now
        self._delay_update(usage, now, elapsed, rtt)
        self._loss_update(len(results), lost, now, rtt)
        return self.target

    def _delay_update(self, usage: Usage, now: float, elapsed: float, rtt: float) -> None:
        acked = self.acked.bitrate()
        if usage is Usage.OVERUSING:
            if now - self._last_decrease < max(MIN_DECREASE_INTERVAL_S, rtt):
                return
            self.state = Rate.DECREASE
        elif usage is Usage.UNDERUSING:
            self.state = Rate.HOLD
        elif self.state is not Rate.INCREASE:
            self.state = Rate.INCREASE
            return  # one feedback of hold between a drop and growth: the queue drains
        if self.state is Rate.DECREASE:
            base = acked if acked is not None else self.delay_based
            self.capacity.forget_if_above(base)
            self.capacity.on_drop(base)
            self.delay_based = min(self.delay_based, BETA * base)
            self._last_decrease = now
            self.stats.delay_drops += 1
            self.dispersion.forget_floor()  # the path is full: probe from the estimate again
            self.state = Rate.HOLD
        elif self.state is Rate.INCREASE:
            if acked is None:
                return  # nothing acknowledged yet to grow from
            self.capacity.forget_if_above(self.delay_based)
            # What the pacer's trains measured outranks what the drops suggested.
            link, carried = self.dispersion.rate, self.dispersion.carried
            if carried is not None:
                self.capacity.forget_if_above(carried)
            if link is not None:
                self.capacity.forget_if_above(LINK_SHARE * link)
            near = self.capacity.near(self.delay_based)
            if near and not self.capacity.far_below(self.delay_based):
                response = rtt + 0.1
                grown = self.delay_based + PACKET_BITS * elapsed / response
            else:
                grown = self.delay_based * FAST_GROWTH**elapsed
            if acked is not None:
                grown = min(
                    grown, max(self.delay_based, ACKED_HEADROOM * acked + ACKED_HEADROOM_BPS)
                )
            if link is not None:
                grown = min(grown, max(self.delay_based, LINK_SHARE * link))
            self.delay_based = grown
        self.delay_based = min(self.max_bitrate, max(MIN_BITRATE, self.delay_based))

    def _loss_update(self, sent: int, lost: int, now: float, rtt: float) -> None:
        self._loss_window.append((sent, lost))
        total = sum(s for s, _ in self._loss_window)
        if now - self._loss_window_start < LOSS_WINDOW_S or total < LOSS_MIN_PACKETS:
            return
        fraction = sum(lo for _, lo in self._loss_window) / total
        self.loss_fraction += LOSS_SMOOTHING * (fraction - self.loss_fraction)
        span = min(now - self._loss_window_start, 1.0)
        self._loss_window = []
        self._loss_window_start = now
        if fraction < LOSS_LOW:
            self.loss_based = min(self.max_bitrate, self.loss_based * FAST_GROWTH**span)
        elif fraction > LOSS_HIGH and now - self._last_loss_decrease >= 0.3 + rtt:
            self.loss_based = max(MIN_BITRATE, self.target * (1 - 0.5 * fraction))
            self._last_loss_decrease = now
            self.stats.loss_drops += 1
            self.dispersion.forget_floor()
