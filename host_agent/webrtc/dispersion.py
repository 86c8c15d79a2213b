"""The bottleneck's rate read from how the pacer's trains arrive (pure): free probes.

The pacer sends each frame's packets at 2.5x the target (``pacer.FACTOR``). A train sent
faster than the narrowest link on the path arrives spread out to that link's rate (packet
pair / train dispersion, the measurement behind libwebrtc's probe clusters); one sent
slower arrives as it was sent. So every train of a few packets says either "the link
carries about R" (arrived slower than sent: R is the arrival rate) or "the link carries at
least R" (arrived as sent: R is the send rate).

Why the estimator needs it: the delay trend only says "the queue grows", i.e. the target
is over the link, after the fact. Growing towards a link it does not know, the target
overshoots it and the queue fills (a recorded trace of the emulated 2 Mbit/s bottleneck:
drops at 46-72 ms of queue after growth that had forgotten the learnt capacity; live, a
second's glass-to-glass p50 at 161-175 ms in 2 of 6 quiet runs); growing slowly instead,
it took 9-10 s to find a link that had widened. With the dispersion rate the estimator
grows fast up to just under a link it has measured, and knows the link widened as soon as
two trains pass well faster than that.

While no train has been spread, the bottleneck is unknown and the trains only say "the
path carried at least R" (a LAN, loopback: every train arrives as the pacer sent it, at
2.5x an estimate that grows only with what the screen sends). ``probe_rate`` then lets
the pacer send its next trains ``PROBE`` x faster than the fastest that passed in the last
``FLOOR_AGE_S``, and so on up to the pacer's ceiling, until a train comes back spread:
the rate is then measured and the pacer goes back to pacing by the estimate. Without it a
page switch's 178 kB frame left at 3.75 Mbit/s, ~0.38 s, on a link of a gigabit, and the
settled screen's lossless tiles waited behind it (``tile_sender.py``). A drop of the
estimate (the queue grew, or loss) forgets the floor too (``forget_floor``). The age is
long because the floor is rarely renewed: only a large frame (a page switch) makes a train
that fast, and the tiles of the page after it use the floor as their budget (a radiograph's
563 kB of tiles waited on the estimate's 281 kB bucket for ~1.5 s).

Lost packets end a train (their arrival is unknown); so do send gaps over ``TRAIN_GAP_S``
(the next frame, or an idle pacer), and arrivals out of order. Arrival times come from the
receiver's clock at 250 us granularity (transport-cc), so a train must span at least
``MIN_SPAN_S`` on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from host_agent.webrtc.transport_cc import PacketResult

TRAIN_GAP_S: Final = 0.010
MIN_PACKETS: Final = 3
MIN_SPAN_S: Final = 0.003
# Arrived at under this share of the send rate: the train was spread by the bottleneck.
SPREAD: Final = 0.85
# A train that passed unspread this much faster than the known link rate: the link widened
# (said by ``WIDENING_TRAINS`` such trains with no spread one between them).
WIDENED: Final = 1.2
WIDENING_TRAINS: Final = 2
# Weight of each new bottleneck sample in the link rate.
SMOOTHING: Final = 0.3
# A link rate not confirmed for this long is forgotten (the path may have changed).
MAX_AGE_S: Final = 10.0
# While the bottleneck is unknown: the next trains go this much faster than the fastest
# unspread one (a link at most 1/SPREAD of it shows as spread at once)...
PROBE: Final = 1.5
# ...if that train passed within this long (a path not tried recently is not assumed).
FLOOR_AGE_S: Final = 60.0


class LinkDispersion:
    """The bottleneck rate (bit/s) from the trains in transport-cc feedback, or None."""

    def __init__(self) -> None:
        self.rate: float | None = None
        self._confirmed = 0.0
        # The fastest unspread train of the last update: the link carries at least this.
        self.carried: float | None = None
        self.samples = 0  # bottleneck samples taken (stats and tests)
        self.widenings = 0  # times faster trains made it forget the rate
        self._faster = 0  # unspread trains over WIDENED x the rate since the last spread one
        # The fastest unspread train since the last spread one, and when it passed.
        self.floor: float | None = None
        self._floor_at = 0.0

    def update(self, results: Sequence[PacketResult], now: float) -> float | None:
        """One feedback's packets (in sequence order); returns the link rate or None."""
        if self.rate is not None and now - self._confirmed > MAX_AGE_S:
            self.rate = None
        self.carried = None
        train: list[tuple[float, float, int]] = []  # (send, arrival, size)
        for result in results:
            if result.arrival is None:
                self._train(train, now)
                train = []
                continue
            if train:
                send, arrival, _ = train[-1]
                if (
                    result.send_time - send > TRAIN_GAP_S
                    or result.send_time < send
                    or result.arrival < arrival
                ):
                    self._train(train, now)
                    train = []
            train.append((result.send_time, result.arrival, result.size))
        self._train(train, now)
        return self.rate

    def forget_floor(self) -> None:
        """The estimate dropped: what the path carried before says nothing now."""
        self.floor = None

    def unknown_floor(self, now: float) -> float | None:
        """While the bottleneck is unknown: the fastest train the path carried unspread in
        the last ``FLOOR_AGE_S`` (bit/s); None once the rate is measured (pace by the
        estimate, whose trains keep measuring it) or with no recent train."""
        if self.rate is not None or self.floor is None or now - self._floor_at > FLOOR_AGE_S:
            return None
        return self.floor

    def probe_rate(self, now: float) -> float | None:
        """How fast the pacer may send to find an unknown bottleneck (bit/s): ``PROBE`` x
        ``unknown_floor``, or None."""
        floor = self.unknown_floor(now)
        return None if floor is None else PROBE * floor

    def _train(self, train: list[tuple[float, float, int]], now: float) -> None:
        if len(train) < MIN_PACKETS:
            return
        send_span = train[-1][0] - train[0][0]
        arrival_span = train[-1][1] - train[0][1]
        if arrival_span < MIN_SPAN_S:
            return  # too short to read at the receiver's granularity, or batched by it
        bits = sum(size for _, _, size in train[1:]) * 8
        received = bits / arrival_span
        sent = bits / send_span if send_span > 0 else float("inf")
        if received < SPREAD * sent:
            sample = received
            self.rate = (
                sample if self.rate is None else self.rate + SMOOTHING * (sample - self.rate)
            )
            self._confirmed = now
            self.samples += 1
            self._faster = 0
            self.floor = None
        elif send_span >= MIN_SPAN_S and received <= sent / SPREAD:
            # Arrived as sent. (Arriving faster than sent says nothing about the link: the
            # receiver read a batch of packets late and stamped them together, as a busy
            # browser does.)
            self.carried = max(sent, self.carried or 0.0)
            if self.floor is None or sent >= self.floor or now - self._floor_at > FLOOR_AGE_S:
                self.floor, self._floor_at = sent, now
            if self.rate is not None and sent > WIDENED * self.rate:
                self._faster += 1
                if self._faster >= WIDENING_TRAINS:
                    self.rate = None
                    self.widenings += 1
                    self._faster = 0
