"""The arithmetic of bench/lossy_stream.py that the network tests assert on (the outage
test's recovery figures, the order of what is done to the link): a wrong answer here would
pass or fail a stream for the wrong reason."""

from __future__ import annotations

import pytest

from bench.lossy_stream import timeline
from bench.stream_figures import new_pictures, recovery
from devkit.link_model import LinkConfig

pytestmark = pytest.mark.unit


def test_new_pictures_counts_each_code_once_inside_the_window() -> None:
    start = 1000.0
    decoded = [
        (7, 999_900.0),  # before the window: seen, not counted, and not new later
        (8, 1_000_100.0),
        (8, 1_000_600.0),  # the same screen again (a keep-alive)
        (7, 1_000_700.0),
        (9, 1_001_250.0),
        (10, 1_003_500.0),  # after the window
    ]
    assert new_pictures(decoded, start, start + 2) == [0.1, 1.25]


def test_recovery_measures_the_wait_and_the_longest_stretch_after() -> None:
    times = [1.0, 1.5, 4.2, 4.3, 5.0, 6.4, 6.5]
    # Down until 4.0: back 0.2 s later, then 0.7 s and 1.4 s stretches (and 0.5 s to the end).
    assert recovery(times, 4.0, 7.0) == (0.2, 1.4)
    # The end of the window counts as an edge: nothing after 6.5 until 8.0 is 1.5 s.
    assert recovery(times, 4.0, 8.0) == (0.2, 1.5)


def test_recovery_without_a_picture_after_says_none() -> None:
    assert recovery([1.0, 2.0], 3.0, 10.0) == (None, 0.0)


def test_timeline_in_time_order_change_before_outage_before_snapshot() -> None:
    wide = LinkConfig(rate_bps=20e6)
    events = timeline(((25.0, wide),), (5.0, 25.0), ((25.0, 2.0), (10.0, 2.0)))
    assert events == [
        (5.0, "snapshot", None),
        (10.0, "outage", 2.0),
        (25.0, "change", wide),
        (25.0, "outage", 2.0),
        (25.0, "snapshot", None),
    ]
