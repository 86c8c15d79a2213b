"""What grants allow: no grant, outside the window, control over view, back-to-back windows,
and windows that stay on the clinic's wall clock across DST (tested with plain data)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from broker.access.grants import Access, Decision, Refusal, Rule, Window, decide, describe

pytestmark = pytest.mark.unit

TOKYO = "Asia/Tokyo"
WEEKDAYS = frozenset(range(5))
EVENING = Window(WEEKDAYS, 18 * 60, 23 * 60)  # weekdays 18:00-23:00


def at(zone: str, *fields: int) -> dt.datetime:
    """A local wall-clock time of ``zone`` as an aware instant."""
    return dt.datetime(*fields, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def utc(*fields: int) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=dt.UTC)  # type: ignore[misc]


def test_no_grant_is_refused() -> None:
    """Fail closed: nothing matching means no_grant."""
    assert decide([], TOKYO, at(TOKYO, 2026, 11, 25, 12, 0)) == Decision(Refusal.NO_GRANT)


def test_one_minute_after_the_window_is_refused() -> None:
    """Wednesday 23:01 in Tokyo is outside weekdays 18:00-23:00; 22:59 is inside and the
    session may last until 23:00 local, 14:00 UTC."""
    rule = Rule(1, Access.VIEW, (EVENING,))
    assert decide([rule], TOKYO, at(TOKYO, 2026, 11, 25, 23, 1)).refusal is Refusal.OUTSIDE_WINDOW
    assert decide([rule], TOKYO, at(TOKYO, 2026, 11, 25, 17, 59)).refusal is (
        Refusal.OUTSIDE_WINDOW
    )
    inside = decide([rule], TOKYO, at(TOKYO, 2026, 11, 25, 22, 59))
    assert inside.allowed
    assert inside.view_only
    assert inside.closes_at == utc(2026, 11, 25, 14, 0)


def test_a_weekday_window_is_closed_on_saturday() -> None:
    """2026-11-28 is a Saturday: the weekday window does not open."""
    rule = Rule(1, Access.CONTROL, (EVENING,))
    assert decide([rule], TOKYO, at(TOKYO, 2026, 11, 28, 19, 0)).refusal is Refusal.OUTSIDE_WINDOW


def test_a_grant_without_windows_allows_any_time_without_an_end() -> None:
    rule = Rule(7, Access.CONTROL, ())
    decision = decide([rule], TOKYO, at(TOKYO, 2026, 11, 28, 3, 0))
    assert decision == Decision(None, Access.CONTROL, None, (7,))
    assert not decision.view_only


def test_control_beats_view_and_its_own_window_bounds_the_session() -> None:
    """A view grant until 23:00 and a control grant until 20:00: at 19:00 the session has
    control, and ends when the control window closes (20:00)."""
    view = Rule(1, Access.VIEW, (EVENING,))
    control = Rule(2, Access.CONTROL, (Window(WEEKDAYS, 18 * 60, 20 * 60),))
    decision = decide([view, control], TOKYO, at(TOKYO, 2026, 11, 25, 19, 0))
    assert decision.access is Access.CONTROL
    assert decision.grant_ids == (2,)
    assert decision.closes_at == at(TOKYO, 2026, 11, 25, 20, 0)
    later = decide([view, control], TOKYO, at(TOKYO, 2026, 11, 25, 21, 0))
    assert later.view_only
    assert later.closes_at == at(TOKYO, 2026, 11, 25, 23, 0)


def test_overnight_and_back_to_back_windows_make_one_stretch() -> None:
    """22:00-00:00 on Wednesday followed by 00:00-02:00 on Thursday: a session at 23:00 may
    run until 02:00; a window crossing midnight ends on the next day."""
    late = Window(frozenset({2}), 22 * 60, 0)
    early = Window(frozenset({3}), 0, 2 * 60)
    decision = decide(
        [Rule(1, Access.CONTROL, (late, early))], TOKYO, at(TOKYO, 2026, 11, 25, 23, 0)
    )
    assert decision.closes_at == at(TOKYO, 2026, 11, 26, 2, 0)
    overnight = Window(frozenset({2}), 22 * 60, 2 * 60)
    decision = decide([Rule(1, Access.CONTROL, (overnight,))], TOKYO, at(TOKYO, 2026, 11, 26, 1, 0))
    assert decision.closes_at == at(TOKYO, 2026, 11, 26, 2, 0)


def test_a_window_keeps_to_the_wall_clock_across_daylight_saving() -> None:
    """18:00-23:00 in New York closes at 04:00 UTC in January and 03:00 UTC in July: kept as
    local time plus zone, not as a UTC copy that would be an hour off half the year."""
    rule = Rule(1, Access.VIEW, (Window(frozenset(range(7)), 18 * 60, 23 * 60),))
    zone = "America/New_York"
    winter = decide([rule], zone, at(zone, 2026, 1, 14, 20, 0))
    summer = decide([rule], zone, at(zone, 2026, 7, 15, 20, 0))
    assert winter.closes_at == utc(2026, 1, 15, 4, 0)
    assert summer.closes_at == utc(2026, 7, 16, 3, 0)
    # 22:30 local in July is 02:30 UTC: inside, though a January UTC copy would say outside.
    assert decide([rule], zone, utc(2026, 7, 16, 2, 30)).allowed


def test_the_same_instant_is_judged_in_the_clinics_zone() -> None:
    """12:00 UTC is 21:00 in Tokyo (inside) and 07:00 in New York (outside)."""
    rule = Rule(1, Access.VIEW, (EVENING,))
    instant = utc(2026, 11, 25, 12, 0)
    assert decide([rule], TOKYO, instant).allowed
    assert not decide([rule], "America/New_York", instant).allowed


@pytest.mark.parametrize(
    ("days", "start", "end"),
    [(frozenset(), 0, 60), (frozenset({7}), 0, 60), (WEEKDAYS, 60, 60), (WEEKDAYS, 0, 1440)],
)
def test_bad_windows_are_refused(days: frozenset[int], start: int, end: int) -> None:
    with pytest.raises(ValueError, match="window"):
        Window(days, start, end)


def test_a_window_round_trips_its_day_mask() -> None:
    assert EVENING.days_mask == 0b0011111
    assert describe("role=staff", "*", "view", [EVENING]) == (
        "role=staff host=* access=view windows=days=0,1,2,3,4 18:00-23:00"
    )
    assert describe("user=sato", "pc-1", "control", []).endswith("windows=any_time")
