"""The link figures read from the emulator's counters (bench/stream_figures.py)."""

import random

import pytest

from bench.stream_figures import mean_queue_wait_ms
from devkit.link_model import LinkConfig, LinkShaper

pytestmark = pytest.mark.unit


def test_mean_queue_wait_is_that_of_the_packets_taken_in_between_two_snapshots() -> None:
    """A first burst waits, then a snapshot; a second burst of 10 packets of 1,000 B at
    8 Mbit/s (1 ms each) once the wire is free waits 0-9 ms: 4.5 ms between the snapshots,
    whatever the first burst waited; no packet in between reads 0."""
    shaper = LinkShaper(LinkConfig(rate_bps=8_000_000, queue_bytes=100_000), random.Random(1))
    for _ in range(40):
        shaper.offer(0.0, bytes(1_000))
    before = shaper.stats.as_dict()
    for _ in range(10):
        shaper.offer(1.0, bytes(1_000))
    after = shaper.stats.as_dict()
    assert mean_queue_wait_ms(before, after) == pytest.approx(4.5)
    assert mean_queue_wait_ms(after, shaper.stats.as_dict()) == 0.0
