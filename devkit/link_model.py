"""The link a packet crosses, as pure logic: loss, a bottleneck with a drop-tail queue, delay
and jitter, outages. No sockets, no clock: fed ``(time, packet)``, it answers which packets
leave and when. ``devkit/link_emulator.py`` moves real packets through it.

    shaper = LinkShaper(LinkConfig(delay=0.030, loss=0.05), random.Random(1))
    shaper.offer(now, packet)                  # -> Verdict: queued or why it was dropped
    for when, packet in shaper.due(now): ...   # what leaves by ``now``, with its release time
    shaper.next_due()                          # when to look again (None: nothing in flight)

A packet meets, in order (like a netem qdisc under a tbf): the outage (dropped while the
link is down), the loss model (Bernoulli or Gilbert–Elliott), the bottleneck (serialized at
``rate_bps`` behind what is queued; dropped when the queue already holds ``queue_bytes``),
then the propagation delay with uniform jitter. Jitter does not reorder unless ``reorder``
is set: a packet never leaves before the one in front of it (netem reorders; real paths
rarely do, and a reordering link would read as loss to a NACK-based receiver).
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state bursty loss (Gilbert–Elliott), evaluated once per packet.

    In the good state a packet is lost with ``loss_good``, in the bad state with
    ``loss_bad``; after each packet the state flips good→bad with ``p`` and bad→good with
    ``r``. With the defaults (lossless good, lossy bad state) the mean loss is
    ``p / (p + r)`` and a burst of losses lasts ``1 / r`` packets on average.
    """

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_good", "loss_bad"):
            _check_probability(name, getattr(self, name))
        if self.p + self.r == 0:
            raise ValueError("p and r cannot both be 0")

    @property
    def mean_loss(self) -> float:
        """The long-run share of packets lost."""
        bad = self.p / (self.p + self.r)
        return (1 - bad) * self.loss_good + bad * self.loss_bad

    @classmethod
    def bursts(cls, mean_loss: float, mean_burst: float) -> GilbertElliott:
        """A lossless-good/lossy-bad model with this mean loss and mean burst length."""
        _check_probability("mean_loss", mean_loss)
        if not 0 < mean_loss < 1 or mean_burst < 1:
            raise ValueError("need 0 < mean_loss < 1 and mean_burst >= 1")
        r = 1 / mean_burst
        return cls(p=r * mean_loss / (1 - mean_loss), r=r)


@dataclass(frozen=True)
class LinkConfig:
    """One direction of a link. Times in seconds, rates in bits per second.

    Attributes:
        delay: one-way propagation delay added to every packet.
        jitter: each packet's delay varies uniformly within ``delay ± jitter`` (never < 0).
        reorder: let jitter reorder packets (default: a packet waits for the one ahead).
        loss: independent (Bernoulli) loss probability per packet.
        bursty: Gilbert–Elliott loss instead of ``loss`` (the two do not combine).
        rate_bps: the bottleneck's rate; ``None`` for no bottleneck.
        queue_bytes: the bottleneck's drop-tail queue: a packet is dropped when the bytes
            waiting to be serialized plus its own would exceed it (like tbf's ``limit``).
    """

    delay: float = 0.0
    jitter: float = 0.0
    reorder: bool = False
    loss: float = 0.0
    bursty: GilbertElliott | None = None
    rate_bps: float | None = None
    queue_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.delay < 0 or self.jitter < 0:
            raise ValueError("delay and jitter cannot be negative")
        _check_probability("loss", self.loss)
        if self.bursty is not None and self.loss:
            raise ValueError("give either loss or bursty, not both")
        if self.rate_bps is not None and self.rate_bps <= 0:
            raise ValueError("rate_bps must be positive (None: no bottleneck)")
        if self.queue_bytes < 0:
            raise ValueError("queue_bytes cannot be negative")

    @staticmethod
    def queue_for(rate_bps: float, seconds: float) -> int:
        """The queue size that holds ``seconds`` of traffic at ``rate_bps`` (e.g. 200 ms)."""
        return int(rate_bps * seconds / 8)


class Verdict(enum.Enum):
    """What happened to an offered packet."""

    QUEUED = "queued"
    LOST = "lost"  # the loss model
    QUEUE_FULL = "queue_full"  # drop-tail at the bottleneck
    OUTAGE = "outage"  # the link was down


@dataclass
class LinkStats:
    """Counters since the shaper was made (packets and bytes)."""

    offered: int = 0
    delivered: int = 0
    delivered_bytes: int = 0
    lost: int = 0
    queue_full: int = 0
    outage: int = 0
    max_queue_delay: float = 0.0
    # The bottleneck's queueing delay summed over the packets it accepted (s), and their
    # count: the mean between two reads says whether a queue stood (the delay itself, not
    # what the machine added at either end).
    queue_delay_sum: float = 0.0
    queued: int = 0

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(order=True)
class _InFlight:
    release: float
    seq: int
    packet: bytes = field(compare=False)


class LinkShaper:
    """One direction of an emulated link (see the module docstring). Not thread-safe."""

    def __init__(self, config: LinkConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._bad = False  # Gilbert–Elliott state
        self._down_from = float("inf")
        self._down_until = float("-inf")
        self._down = False
        self._wire_free_at = float("-inf")  # when the bottleneck finishes what it holds
        self._last_release = float("-inf")
        self._in_flight: list[_InFlight] = []
        self._seq = itertools.count()
        self.stats = LinkStats()

    @property
    def config(self) -> LinkConfig:
        return self._config

    def configure(self, config: LinkConfig) -> None:
        """Change the link from now on; packets already accepted keep their release times."""
        if config.bursty != self._config.bursty:
            self._bad = False
        self._config = config

    def outage(self, now: float, seconds: float | None) -> None:
        """Take the link down for ``seconds`` from ``now`` (``None``: until ``restore``).

        One outage at a time: a new one replaces a scheduled or running one."""
        if seconds is None:
            self._down = True
        else:
            self._down_from, self._down_until = now, now + seconds

    def restore(self) -> None:
        """End any outage now."""
        self._down = False
        self._down_from, self._down_until = float("inf"), float("-inf")

    def is_down(self, now: float) -> bool:
        return self._down or self._down_from <= now < self._down_until

    def offer(self, now: float, packet: bytes) -> Verdict:
        """A packet arrives at ``now``: drop it, or schedule its release."""
        config = self._config
        self.stats.offered += 1
        if self.is_down(now):
            self.stats.outage += 1
            return Verdict.OUTAGE
        if self._lose():
            self.stats.lost += 1
            return Verdict.LOST
        leaves_wire = now
        if config.rate_bps is not None:
            start = max(now, self._wire_free_at)
            backlog = (start - now) * config.rate_bps / 8
            if backlog + len(packet) > config.queue_bytes:
                self.stats.queue_full += 1
                return Verdict.QUEUE_FULL
            leaves_wire = start + len(packet) * 8 / config.rate_bps
            self._wire_free_at = leaves_wire
            self.stats.max_queue_delay = max(self.stats.max_queue_delay, start - now)
            self.stats.queue_delay_sum += start - now
            self.stats.queued += 1
        release = leaves_wire + config.delay
        if config.jitter:
            release = max(leaves_wire, release + self._rng.uniform(-config.jitter, config.jitter))
        if not config.reorder:
            release = max(release, self._last_release)
        self._last_release = max(self._last_release, release)
        heapq.heappush(self._in_flight, _InFlight(release, next(self._seq), packet))
        return Verdict.QUEUED

    def due(self, now: float) -> list[tuple[float, bytes]]:
        """Packets whose release time has come, in release order, with that time."""
        out: list[tuple[float, bytes]] = []
        while self._in_flight and self._in_flight[0].release <= now:
            item = heapq.heappop(self._in_flight)
            out.append((item.release, item.packet))
            self.stats.delivered += 1
            self.stats.delivered_bytes += len(item.packet)
        return out

    def next_due(self) -> float | None:
        """The next release time, or ``None`` when nothing is in flight."""
        return self._in_flight[0].release if self._in_flight else None

    def in_flight(self) -> int:
        return len(self._in_flight)

    def _lose(self) -> bool:
        bursty = self._config.bursty
        if bursty is None:
            return self._config.loss > 0 and self._rng.random() < self._config.loss
        lost = self._rng.random() < (bursty.loss_bad if self._bad else bursty.loss_good)
        flip = bursty.r if self._bad else bursty.p
        if self._rng.random() < flip:
            self._bad = not self._bad
        return lost


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], not {value}")


def config_to_json(config: LinkConfig) -> dict[str, object]:
    """``config`` as plain JSON data (the emulator's control messages carry it)."""
    data: dict[str, object] = {
        "delay": config.delay,
        "jitter": config.jitter,
        "reorder": config.reorder,
        "loss": config.loss,
        "rate_bps": config.rate_bps,
        "queue_bytes": config.queue_bytes,
        "bursty": None,
    }
    if config.bursty is not None:
        b = config.bursty
        data["bursty"] = {"p": b.p, "r": b.r, "loss_good": b.loss_good, "loss_bad": b.loss_bad}
    return data


def config_from_json(data: object) -> LinkConfig:
    """The inverse of ``config_to_json``; raises ``ValueError`` on anything else."""
    if not isinstance(data, dict) or set(data) != _CONFIG_KEYS:
        raise ValueError(f"a link config has exactly the keys {sorted(_CONFIG_KEYS)}")
    bursty = data["bursty"]
    if bursty is not None:
        if not isinstance(bursty, dict) or set(bursty) != {"p", "r", "loss_good", "loss_bad"}:
            raise ValueError("bursty must be null or {p, r, loss_good, loss_bad}")
        bursty = GilbertElliott(**{k: _number(bursty, k) for k in bursty})
    rate = data["rate_bps"]
    reorder = data["reorder"]
    if not isinstance(reorder, bool):
        raise ValueError("reorder must be a boolean")
    return LinkConfig(
        delay=_number(data, "delay"),
        jitter=_number(data, "jitter"),
        reorder=reorder,
        loss=_number(data, "loss"),
        bursty=bursty,
        rate_bps=None if rate is None else _number(data, "rate_bps"),
        queue_bytes=int(_number(data, "queue_bytes")),
    )


_CONFIG_KEYS = {"delay", "jitter", "reorder", "loss", "rate_bps", "queue_bytes", "bursty"}


def _number(data: dict[str, object], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return float(value)
