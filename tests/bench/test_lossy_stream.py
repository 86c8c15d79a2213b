"""The arithmetic of bench/lossy_stream.py that the network tests assert on (the outage
test's recovery figures, the order of what is done to the link): a wrong answer here would
pass or fail a stream for the wrong reason."""

from __future__ import annotations

import pytest

from bench.link_runs import run_order, timeline
from bench.stream_figures import link_figures, new_pictures, picture_figures, recovery, stillness
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


def test_stillness_counts_the_window_edges_as_pictures_seen() -> None:
    # Stretches: 0->0.4, 0.4->1.9 (1.5 s), 1.9->2.0, 2.0->4.5 (2.5 s), 4.5->5.0.
    assert stillness([0.4, 1.9, 2.0, 4.5], 5.0) == (2.5, 2)
    # A stretch of exactly the limit is not over it.
    assert stillness([1.0, 2.0], 3.0) == (1.0, 0)


def test_stillness_without_any_picture_is_the_whole_window() -> None:
    assert stillness([], 20.0) == (20.0, 1)
    # Times outside the window (a late drain) are not pictures inside it.
    assert stillness([-0.5, 21.0], 20.0) == (20.0, 1)


def test_picture_figures_join_new_pictures_latency_and_stillness() -> None:
    start = 1000.0
    paints = {1: [1000.05], 2: [1000.50], 3: [1001.80]}
    decoded = [(1, 1_000_100.0), (1, 1_000_200.0), (2, 1_000_600.0), (3, 1_001_900.0)]
    figures = picture_figures(decoded, paints, start, start + 2.0)
    assert figures["new_pictures_s"] == [0.1, 0.6, 1.9]
    assert figures["new_per_s"] == 1.5
    assert figures["longest_still_s"] == 1.3
    assert figures["still_over_1s"] == 1
    assert figures["latency_p50_ms"] == pytest.approx(100.0)
    assert figures["latency_p90_ms"] == pytest.approx(100.0)


def test_link_figures_from_the_first_and_last_snapshot() -> None:
    link = [
        (0.0, {"delivered_bytes": 1_000, "lost": 3, "delivered": 10}),
        (10.0, {"delivered_bytes": 2_501_000, "lost": 53, "delivered": 2_010}),
    ]
    assert link_figures(link) == {"link_kbit_s": 2000, "link_lost": 50, "link_packets": 2000}


def test_link_figures_without_two_snapshots_say_none() -> None:
    assert link_figures([]) == {"link_kbit_s": None, "link_lost": None, "link_packets": None}


def test_run_order_alternates_so_neither_stack_always_goes_first() -> None:
    assert run_order(["after", "novnc"], 0) == ["after", "novnc"]
    assert run_order(["after", "novnc"], 1) == ["novnc", "after"]
    assert run_order(["after", "novnc"], 2) == ["after", "novnc"]
    assert run_order(["after"], 1) == ["after"]
