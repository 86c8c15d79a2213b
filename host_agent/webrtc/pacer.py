"""A frame leaves as a smooth train, not a burst (pure; the clock is the caller's).

A screen change coded as one 100-300 kB frame would otherwise leave in a few milliseconds:
a thin uplink's queue takes the whole burst at once, delays everything behind it (input
echo included) and, if it is short, drops its tail (the next loss, the next NACK storm).
The pacer releases packets at ``FACTOR`` x the congestion estimate: fast enough that a
frame is out well within its frame interval, slow enough that the bottleneck's queue sees
a train, not a wall.

- While the bottleneck is unknown (no train has come back spread: a LAN, loopback), the
  caller may pace faster (``set_bitrate``'s ``at_least``: ``dispersion.probe_rate``), so
  that a large frame is not held ~0.4 s by an estimate the screen never had reason to
  grow (the estimator only climbs towards what is sent).
- A leaky bucket: each packet adds its size to a debt that drains at the pacing rate; a
  packet leaves while the debt is at most ``BURST_S`` of the rate (a few packets per
  wake-up of the event loop, which cannot sleep for less than about a millisecond).
- Retransmissions go first: the receiver is waiting for them, every frame after the loss
  is stuck behind them.
- A queue longer than ``MAX_QUEUE_S`` at the pacing rate raises the rate to empty it in
  that time (a pacer must not become a standing queue of its own); what keeps the queue
  short is the encoder, whose target is pushed back while the queue is long
  (``congestion_control``). Beyond ``MAX_PACKETS`` the oldest media packet is dropped (NACK
  repairs it, or the next keyframe does).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

FACTOR: Final = 2.5
BURST_S: Final = 0.005
MAX_QUEUE_S: Final = 0.5
MAX_PACKETS: Final = 4096
MIN_RATE: Final = 100_000

P = TypeVar("P")


@dataclass
class PacerStats:
    sent: int = 0
    sent_bytes: int = 0
    dropped: int = 0
    max_queue_bytes: int = 0


class Pacer(Generic[P]):
    """Packets in (``push``), packets out when their time comes (``pop``/``next_at``)."""

    def __init__(self, bitrate: int, now: float) -> None:
        self._rate = float(max(MIN_RATE, bitrate)) * FACTOR
        self._debt = 0.0  # bytes
        self._updated = now
        # (packet, size, queued at)
        self._media: deque[tuple[P, int, float]] = deque()
        self._resends: deque[tuple[P, int, float]] = deque()
        self._queued = 0
        self.stats = PacerStats()

    def set_bitrate(self, bitrate: int, now: float, at_least: float = 0.0) -> None:
        """The congestion estimate changed; packets leave at ``FACTOR`` times it, or at
        ``at_least`` (bit/s) if that is faster."""
        self._drain(now)
        self._rate = max(float(max(MIN_RATE, bitrate)) * FACTOR, at_least)

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def __len__(self) -> int:
        return len(self._media) + len(self._resends)

    def rate(self) -> float:
        """The pacing rate now (bit/s): the configured one, or what empties the queue in
        ``MAX_QUEUE_S`` at this rate, if faster. Never a burst: a deadline per packet
        would send everything at once as it neared, into the thin link that caused it."""
        return max(self._rate, self._queued * 8 / MAX_QUEUE_S)

    def queued_seconds(self, bitrate: float) -> float:
        """How long the queue takes to leave at ``bitrate`` (the encoder's pushback)."""
        return self._queued * 8 / max(bitrate, 1.0)

    def push(self, packet: P, size: int, now: float, resend: bool = False) -> None:
        self._drain(now)
        (self._resends if resend else self._media).append((packet, size, now))
        self._queued += size
        self.stats.max_queue_bytes = max(self.stats.max_queue_bytes, self._queued)
        while len(self) > MAX_PACKETS and self._media:
            _, dropped, _ = self._media.popleft()
            self._queued -= dropped
            self.stats.dropped += 1

    def _drain(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._debt = max(0.0, self._debt - elapsed * self.rate() / 8)

    def _allowance(self) -> float:
        return max(BURST_S * self.rate() / 8, 1.0)

    def next_at(self, now: float) -> float | None:
        """When the next packet may leave (``now`` if it may now); None: nothing queued."""
        if not len(self):
            return None
        self._drain(now)
        over = self._debt - self._allowance()
        return now if over <= 0 else now + over * 8 / self.rate()

    def pop(self, now: float) -> P | None:
        """The next packet if it may leave now (resends first), else None."""
        if not len(self):
            return None
        self._drain(now)
        if self._debt > self._allowance():
            return None
        packet, size, _ = (self._resends or self._media).popleft()
        self._queued -= size
        self._debt += size
        self.stats.sent += 1
        self.stats.sent_bytes += size
        return packet
