"""The set-up and sign-in benchmark's arithmetic (bench.rates): a rate counted over the wrong
window, or a ratio taken the wrong way round, would be a wrong claim in the README."""

from __future__ import annotations

import pytest

from bench import rates

pytestmark = pytest.mark.unit


def test_a_rate_counts_only_what_finished_inside_the_window() -> None:
    """Finished before the start (warm-up) or after the deadline: not counted; the window's
    length is the divisor even when the last completion came earlier."""
    finishes = [9.5, 10.5, 11.0, 12.0, 14.9, 15.0, 15.1]
    assert rates.rate(finishes, start=10.0, deadline=15.0) == pytest.approx(5 / 5.0)


def test_a_pool_that_ran_out_ends_the_window_at_its_last_completion() -> None:
    """Sign-ins spend one person each: once none is left, clients idle, and counting that
    idle time would understate the rate."""
    finishes = [10.5, 11.0, 11.5, 12.0]
    assert rates.rate(finishes, 10.0, 20.0, ran_out=True) == pytest.approx(4 / 2.0)
    # Ran out only after the deadline: the deadline still ends the window.
    assert rates.rate([*finishes, 25.0], 10.0, 20.0, ran_out=True) == pytest.approx(4 / 10.0)


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        rates.rate([], 10.0, 10.0)
    with pytest.raises(ValueError, match="window"):
        rates.rate([9.0], 10.0, 20.0, ran_out=True)


def test_the_ratio_is_to_the_one_replica_figure() -> None:
    assert rates.ratio(15.0, 10.0) == pytest.approx(1.5)
    assert rates.ratio(5.0, 10.0) == pytest.approx(0.5)
    assert rates.ratio(5.0, 0.0) is None


@pytest.mark.parametrize(
    ("clients", "replicas", "crossing"), [(4, 2, 0.5), (8, 2, 0.5), (4, 1, 0.0)]
)
def test_half_the_sessions_cross_replicas_on_two(
    clients: int, replicas: int, crossing: float
) -> None:
    """Viewers and agents spread evenly; on two replicas half the viewers reach an agent
    held by the other replica (routed through Redis), half the one they are on."""
    placed = [rates.placement(i, replicas) for i in range(clients)]
    agents = [agent for agent, _ in placed]
    viewers = [viewer for _, viewer in placed]
    for replica in range(replicas):
        assert agents.count(replica) == clients // replicas
        assert viewers.count(replica) == clients // replicas
    assert sum(a != v for a, v in placed) / clients == crossing


def test_medians_and_the_table_row() -> None:
    """The median of the runs, each run listed in order, and the ratio to the reference,
    for each figure of the row."""
    one = rates.Figure.of([10.0, 12.0, 11.0])
    two = rates.Figure.of([9.0, 8.0, 10.0])
    assert one.median == 11.0
    assert two.median == 9.0
    assert (
        rates.row("two replicas", [(two, one), (one, two)])
        == "| two replicas | **9.0** (9.0, 8.0, 10.0) | 0.82 | **11.0** (10.0, 12.0, 11.0) | 1.22 |"
    )
    assert rates.row("one replica", [(one, None)]) == (
        "| one replica | **11.0** (10.0, 12.0, 11.0) | - |"
    )


def test_a_rate_per_core_second_divides_by_the_cores_the_brokers_used() -> None:
    """On a shared machine the brokers get what the scheduler leaves them: work per CPU
    second of theirs is the figure other load moves least."""
    assert rates.per_core(6.0, 0.5) == pytest.approx(12.0)
    assert rates.per_core(6.0, 0.0) is None
