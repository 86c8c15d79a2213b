"""Is the bottleneck's queue growing? The delay side of the congestion estimate (pure).

In the spirit of Google Congestion Control (draft-ietf-rmcat-gcc, and libwebrtc's design):

1. **Groups**: packets sent within ``GROUP_S`` of a group's first packet form one group (a
   frame or a pacer burst); what is compared is when groups were sent and when they arrived.
2. **Delay variation**: for consecutive groups, (arrival gap) - (send gap). Positive: the
   later group waited longer somewhere, i.e. a queue grew between them.
3. **Trend**: the variations are accumulated (the queueing delay, up to a constant),
   smoothed, and a least-squares line is fitted over the last ``WINDOW`` groups against
   arrival time; its slope (ms of queue per ms) is the trend.
4. **Detector**: the trend, scaled by ``GAIN`` and the number of samples, is compared with
   an adaptive threshold: over it for longer than ``OVERUSE_TIME_S`` and still rising is
   *overuse*; below its negative is *underuse* (the queue drains); else *normal*. The
   threshold follows the trend's magnitude slowly (faster downwards), so a link with
   steady jitter does not read as congestion, and a sender competing with TCP does not
   starve (the threshold rises with the others' queue).

Lost packets take no part (they have no arrival); reordered groups are skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from host_agent.webrtc.transport_cc import PacketResult

GROUP_S: Final = 0.005
WINDOW: Final = 20
SMOOTHING: Final = 0.9
GAIN: Final = 4.0
MAX_SAMPLES_SCALE: Final = 60
OVERUSE_TIME_S: Final = 0.010
THRESHOLD_START_MS: Final = 12.5
THRESHOLD_MIN_MS: Final = 6.0
THRESHOLD_MAX_MS: Final = 600.0
K_UP: Final = 0.0087
K_DOWN: Final = 0.039
# A trend this far above the threshold is a spike, not a level to adapt to.
MAX_ADAPT_GAP_MS: Final = 15.0
MAX_ADAPT_STEP_MS: Final = 100.0
# An arrival gap this much longer than its send gap is a stall of the path, not a queue.
MAX_GAP_S: Final = 3.0


class Usage(Enum):
    NORMAL = "normal"
    OVERUSING = "overusing"
    UNDERUSING = "underusing"


@dataclass
class _Group:
    first_send: float
    last_send: float
    last_arrival: float
    size: int


class DelayTrend:
    """Feed it each feedback's packet results; it says how the queue is doing."""

    def __init__(self) -> None:
        self._current: _Group | None = None
        self._previous: _Group | None = None
        self._first_arrival: float | None = None
        self._accumulated_ms = 0.0
        self._smoothed_ms = 0.0
        self._points: deque[tuple[float, float]] = deque(maxlen=WINDOW)
        self._samples = 0
        self.threshold_ms = THRESHOLD_START_MS
        self.trend = 0.0  # the last scaled trend (ms), for logs and tests
        self._previous_trend = 0.0
        self._over_time_s: float | None = None
        self._over_count = 0
        self._last_update: float | None = None
        self.usage = Usage.NORMAL

    def update(self, results: Iterable[PacketResult]) -> Usage:
        """Packets in send order (a feedback's); returns the usage after them."""
        for result in sorted(results, key=lambda r: r.send_time):
            if result.arrival is not None:
                self._add(result, result.arrival)
        return self.usage

    def _add(self, packet: PacketResult, arrival: float) -> None:
        group = self._current
        if group is None:
            self._current = _Group(packet.send_time, packet.send_time, arrival, packet.size)
            return
        if packet.send_time < group.first_send:
            return  # sent before the group being built: out of order, no information
        if packet.send_time - group.first_send <= GROUP_S:
            group.last_send = max(group.last_send, packet.send_time)
            group.last_arrival = max(group.last_arrival, arrival)
            group.size += packet.size
            return
        if self._previous is not None:
            self._compare(self._previous, group)
        self._previous = group
        self._current = _Group(packet.send_time, packet.send_time, arrival, packet.size)

    def _compare(self, earlier: _Group, later: _Group) -> None:
        send_gap = later.last_send - earlier.last_send
        arrival_gap = later.last_arrival - earlier.last_arrival
        if arrival_gap < 0 or arrival_gap - send_gap > MAX_GAP_S:
            # Reordered, or the receiver's clock jumped / the path stalled: start over.
            self._points.clear()
            self._accumulated_ms = self._smoothed_ms = 0.0
            return
        now = later.last_arrival
        if self._first_arrival is None:
            self._first_arrival = now
        self._samples += 1
        self._accumulated_ms += (arrival_gap - send_gap) * 1000
        self._smoothed_ms = SMOOTHING * self._smoothed_ms + (1 - SMOOTHING) * self._accumulated_ms
        self._points.append(((now - self._first_arrival) * 1000, self._smoothed_ms))
        slope = _slope(self._points) if len(self._points) == WINDOW else None
        if slope is not None:
            self._detect(slope, send_gap, now)

    def _detect(self, slope: float, send_gap: float, now: float) -> None:
        trend = min(self._samples, MAX_SAMPLES_SCALE) * slope * GAIN
        self.trend = trend
        if trend > self.threshold_ms:
            self._over_time_s = (
                send_gap / 2 if self._over_time_s is None else self._over_time_s + send_gap
            )
            self._over_count += 1
            if (
                self._over_time_s > OVERUSE_TIME_S
                and self._over_count > 1
                and trend >= self._previous_trend
            ):
                self._over_time_s, self._over_count = 0.0, 0
                self.usage = Usage.OVERUSING
        elif trend < -self.threshold_ms:
            self._over_time_s, self._over_count = None, 0
            self.usage = Usage.UNDERUSING
        else:
            self._over_time_s, self._over_count = None, 0
            self.usage = Usage.NORMAL
        self._previous_trend = trend
        self._adapt(abs(trend), now)

    def _adapt(self, magnitude: float, now: float) -> None:
        last, self._last_update = self._last_update, now
        if last is None or magnitude > self.threshold_ms + MAX_ADAPT_GAP_MS:
            return
        k = K_DOWN if magnitude < self.threshold_ms else K_UP
        step_ms = min((now - last) * 1000, MAX_ADAPT_STEP_MS)
        self.threshold_ms += k * (magnitude - self.threshold_ms) * step_ms
        self.threshold_ms = min(THRESHOLD_MAX_MS, max(THRESHOLD_MIN_MS, self.threshold_ms))


def _slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x; None when x does not vary."""
    pts = list(points)
    n = len(pts)
    mean_x = sum(x for x, _ in pts) / n
    mean_y = sum(y for _, y in pts) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in pts)
    den = sum((x - mean_x) ** 2 for x, _ in pts)
    return num / den if den > 0 else None
