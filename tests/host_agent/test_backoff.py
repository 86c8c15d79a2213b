"""Reconnect backoff: exponential, capped, jittered, reset after a healthy link."""

from __future__ import annotations

import random

import pytest

from host_agent.link.backoff import Backoff

pytestmark = pytest.mark.unit


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    """Ceilings double from the base and stop at the cap; draws stay under the ceiling."""
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(7))
    ceilings = []
    for _ in range(12):
        ceiling = backoff.ceiling()
        delay = backoff.next_delay()
        assert 0 <= delay <= ceiling
        ceilings.append(ceiling)
    assert ceilings[:7] == [0.5, 1, 2, 4, 8, 16, 30]
    assert max(ceilings) == 30.0


def test_jitter_spreads_a_fleet() -> None:
    """Agents that fail together draw different delays (full jitter)."""
    delays = {
        round(Backoff(rng=random.Random(seed), attempt=5).next_delay(), 3) for seed in range(20)
    }
    assert len(delays) > 15


def test_reset_starts_again_from_the_base() -> None:
    """After a healthy link the next delay is back under the base."""
    backoff = Backoff(base_s=0.5, rng=random.Random(1), attempt=20)
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_huge_attempt_counts_do_not_overflow() -> None:
    """A host offline for weeks keeps a bounded delay."""
    assert Backoff(cap_s=30.0, attempt=10**6).ceiling() == 30.0
