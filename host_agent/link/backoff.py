"""Reconnect delays: capped exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the capped exponential) spreads a fleet of agents
that lost the broker at the same moment, so they do not all come back in the same second
(AWS Architecture Blog, "Exponential Backoff and Jitter").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for successive failed attempts; ``reset()`` after a success."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def ceiling(self) -> float:
        """The largest delay the next attempt may draw."""
        # min() before the power would still overflow for huge attempts; bound the exponent.
        return min(self.cap_s, self.base_s * float(2 ** min(self.attempt, 32)))

    def next_delay(self, cap_s: float | None = None) -> float:
        """Seconds to wait before the next attempt, and count the attempt; ``cap_s`` bounds
        this one draw (an attempt that cost the other side nothing) without resetting."""
        ceiling = self.ceiling() if cap_s is None else min(cap_s, self.ceiling())
        delay = self.rng.uniform(0, ceiling)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
