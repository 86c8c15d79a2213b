"""A synthetic link for the congestion-control units: a sender at the estimator's target,
a FIFO bottleneck (rate, queue limit in time, random or bursty loss, propagation delay)
and a receiver answering with real transport-cc feedback bytes every ``FEEDBACK_S``.

Deterministic (seeded). The sender is never application-limited unless ``app_limit``
says so, as while a screen scrolls. Feedback goes through ``build_feedback`` and back
through ``parse_feedback`` and ``SentPackets``, so the wire format is part of every trace.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from host_agent.webrtc.estimator import BandwidthEstimator
from host_agent.webrtc.transport_cc import SentPackets, build_feedback, parse_feedback

PACKET = 1200
FEEDBACK_S = 0.05


@dataclass
class Phase:
    """The link from ``start`` on (seconds)."""

    start: float
    capacity: float  # bit/s
    loss: float = 0.0
    burst_loss: float | None = None  # if set, lose with this probability in a burst window


@dataclass
class Frames:
    """A screen's sender instead of a smooth one: a frame every ``1 / fps`` s of the
    target's share, every ``lump_every``-th one ``lump`` times larger (a keyframe, a big
    change), its packets paced at ``pace`` x the target, as the agent's pacer does."""

    fps: float = 50.0
    lump_every: int = 25
    lump: float = 8.0
    pace: float = 2.5


@dataclass
class Trace:
    times: list[float] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    queue_delays: list[tuple[float, float]] = field(default_factory=list)  # (send time, s)
    delivered: list[tuple[float, int]] = field(default_factory=list)  # (arrival, bytes)

    def target_at(self, t: float) -> int:
        best = self.targets[0]
        for time, target in zip(self.times, self.targets, strict=True):
            if time > t:
                break
            best = target
        return best

    def max_queue_delay(self, after: float) -> float:
        return max((d for t, d in self.queue_delays if t >= after), default=0.0)

    def goodput(self, start: float, end: float) -> float:
        return sum(b for t, b in self.delivered if start <= t < end) * 8 / (end - start)


def run(
    phases: list[Phase],
    seconds: float,
    max_bitrate: int = 8_000_000,
    delay: float = 0.03,
    queue_s: float = 0.2,
    seed: int = 1,
    burst: Callable[[float], bool] = lambda t: False,
    app_limit: Callable[[float], float | None] = lambda t: None,
    frames: Frames | None = None,
) -> tuple[BandwidthEstimator, Trace]:
    rng = random.Random(seed)
    estimator = BandwidthEstimator(0.0, max_bitrate)
    sent = SentPackets()
    trace = Trace()
    link_free = 0.0  # when the bottleneck finishes its current packet
    pending: list[tuple[int, float, float | None]] = []  # (seq, feedback due, arrival)
    next_send, next_feedback = 0.0, FEEDBACK_S
    rtt = 2 * delay
    queued_bytes = 0.0  # the framed sender's pacer queue
    frame_index, next_frame = 0, 0.0
    while next_send < seconds or next_feedback < seconds:
        if next_send <= next_feedback:
            now = next_send
            phase = [p for p in phases if p.start <= now][-1]
            seq = sent.next_sequence(now, PACKET)
            start = max(now, link_free)
            queued = start - now
            lost = queued > queue_s
            if not lost:
                link_free = start + PACKET * 8 / phase.capacity
                loss = phase.burst_loss if burst(now) and phase.burst_loss else phase.loss
                lost = rng.random() < loss
                trace.queue_delays.append((now, queued))
            arrival = None if lost else link_free + delay
            due = (now + delay if arrival is None else arrival) + delay
            pending.append((seq, due, arrival))
            rate = estimator.target
            limit = app_limit(now)
            if limit is not None:
                rate = min(rate, int(limit))
            if frames is None:
                next_send = now + PACKET * 8 / rate
                continue
            queued_bytes -= PACKET
            while queued_bytes < PACKET / 2:  # the pacer is empty: wait for the next frame
                size = rate / 8 / frames.fps
                if frame_index % frames.lump_every == 0:
                    size *= frames.lump
                frame_index += 1
                queued_bytes += size
                now = max(now, next_frame)
                next_frame += 1 / frames.fps
            next_send = now + PACKET * 8 / (frames.pace * rate)
        else:
            now = next_feedback
            next_feedback += FEEDBACK_S
            ready = [p for p in pending if p[1] <= now]
            if not ready:
                continue
            pending = [p for p in pending if p[1] > now]
            base = ready[0][0]
            arrivals: list[float | None] = [None] * (ready[-1][0] - base + 1)
            for seq, _, arrival in ready:
                arrivals[seq - base] = arrival
                if arrival is not None:
                    trace.delivered.append((arrival, PACKET))
            feedback = parse_feedback(build_feedback(base, arrivals))
            estimator.update(sent.results(feedback), now, rtt)
            trace.times.append(now)
            trace.targets.append(estimator.target)
    return estimator, trace
