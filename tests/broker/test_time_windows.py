"""Grant time windows, evaluated in the clinic's zone from UTC instants."""

from __future__ import annotations

import datetime as dt

import pytest

from broker.access.windows import EVERY_DAY, WEEKDAYS, TimeWindow, decide

pytestmark = pytest.mark.unit

EVENINGS = TimeWindow(WEEKDAYS, dt.time(18, 0), dt.time(23, 0))
TOKYO = "Asia/Tokyo"


def tokyo(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """2026-11-16 is a Monday; ``day`` counts from it. Returned in UTC."""
    local = dt.datetime(2026, 11, 16 + day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    return local.astimezone(dt.UTC)


def test_inside_the_window_is_allowed_until_it_closes() -> None:
    """Monday 18:30 Tokyo is allowed, and the session must end at 23:00 Tokyo (14:00 UTC)."""
    decision = decide([EVENINGS], TOKYO, tokyo(0, 18, 30))
    assert decision.allowed
    assert decision.closes_at == dt.datetime(2026, 11, 16, 14, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "when",
    [tokyo(0, 17, 59), tokyo(0, 23, 0), tokyo(0, 23, 1), tokyo(5, 19, 0)],
    ids=["one-minute-early", "at-close", "one-minute-late", "saturday"],
)
def test_outside_the_window_is_refused(when: dt.datetime) -> None:
    """A minute outside the window, or on a day it does not cover, is refused."""
    assert not decide([EVENINGS], TOKYO, when).allowed


def test_the_brokers_own_zone_does_not_matter() -> None:
    """The same instant gives the same answer in whatever zone it is expressed."""
    instant = tokyo(2, 22, 0)
    for offset in (-8, 0, 5.5):
        shifted = instant.astimezone(dt.timezone(dt.timedelta(hours=offset)))
        assert decide([EVENINGS], TOKYO, shifted).allowed


def test_a_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    """Friday 22:00–02:00 allows Saturday 01:00, closing at 02:00; not Friday 01:00."""
    late = TimeWindow(frozenset({4}), dt.time(22, 0), dt.time(2, 0))
    saturday_night = decide([late], TOKYO, tokyo(5, 1, 0))
    assert saturday_night.allowed
    assert saturday_night.closes_at == tokyo(5, 2, 0)
    assert not decide([late], TOKYO, tokyo(4, 1, 0)).allowed


def test_overlapping_windows_end_at_the_last_close() -> None:
    """Two windows covering now: the session may run until the later one closes."""
    afternoon = TimeWindow(EVERY_DAY, dt.time(13, 0), dt.time(19, 0))
    decision = decide([afternoon, EVENINGS], TOKYO, tokyo(1, 18, 30))
    assert decision.closes_at == tokyo(1, 23, 0)


def test_no_windows_means_no_time_restriction() -> None:
    """A grant without windows is not limited by time."""
    decision = decide([], TOKYO, tokyo(6, 3, 0))
    assert decision.allowed
    assert decision.closes_at is None


@pytest.mark.parametrize(
    "bad",
    [
        dict(days=frozenset(), start=dt.time(9), end=dt.time(17)),
        dict(days=frozenset({7}), start=dt.time(9), end=dt.time(17)),
        dict(days=WEEKDAYS, start=dt.time(9), end=dt.time(9)),
        dict(days=WEEKDAYS, start=dt.time(9, tzinfo=dt.UTC), end=dt.time(17)),
    ],
)
def test_malformed_windows_are_refused(bad: dict[str, object]) -> None:
    """No days, a day out of range, an empty window or a zoned time are errors."""
    with pytest.raises(ValueError, match="window"):
        TimeWindow(**bad)  # type: ignore[arg-type]


def test_naive_now_is_refused() -> None:
    """A time without a zone cannot be placed in the clinic's day."""
    with pytest.raises(ValueError, match="aware"):
        decide([EVENINGS], TOKYO, dt.datetime(2026, 11, 16, 19))
