"""Idle and maximum session time with a clock set by the test, never by sleeping."""

from __future__ import annotations

import pytest

from mamori_protocol.session_limits import LimitState, SessionLimits, SessionTimer

pytestmark = pytest.mark.unit

LIMITS = SessionLimits(idle_s=600, max_s=8 * 3600, warn_before_s=300)


def test_defaults_follow_the_guideline_settings() -> None:
    """Idle 10 minutes, maximum 8 hours, warning 5 minutes ahead by default."""
    assert SessionLimits() == LIMITS


def test_input_keeps_a_session_active() -> None:
    """A session with input every few minutes stays active."""
    timer = SessionTimer(LIMITS, started_at=0)
    for minute in range(0, 60, 5):
        timer.touch(minute * 60)
        assert timer.status(minute * 60 + 299).state is LimitState.ACTIVE


def test_no_input_for_the_idle_time_blanks() -> None:
    """Ten minutes without input make the session idle (clear screen, second factor)."""
    timer = SessionTimer(LIMITS, started_at=0)
    timer.touch(100)
    assert timer.status(699).state is LimitState.ACTIVE
    assert timer.status(700).state is LimitState.IDLE
    timer.touch(701)
    assert timer.status(702).state is LimitState.ACTIVE


def test_maximum_warns_five_minutes_ahead_then_expires() -> None:
    """At 7 h 55 m the session is ending soon; at 8 h it has expired, input or not."""
    timer = SessionTimer(LIMITS, started_at=1000)
    end = 1000 + 8 * 3600
    timer.touch(end - 301)
    assert timer.status(end - 301).state is LimitState.ACTIVE
    timer.touch(end - 300)
    status = timer.status(end - 300)
    assert status.state is LimitState.ENDING_SOON
    assert status.seconds_left == 300
    timer.touch(end)
    assert timer.status(end).state is LimitState.EXPIRED


def test_late_or_out_of_order_input_does_not_rewind_the_idle_clock() -> None:
    """An older timestamp arriving late never makes a session look idle."""
    timer = SessionTimer(LIMITS, started_at=0)
    timer.touch(500)
    timer.touch(10)
    assert timer.status(1000).state is LimitState.ACTIVE


@pytest.mark.parametrize(
    "limits", [dict(idle_s=0), dict(max_s=-1), dict(max_s=60, warn_before_s=60)]
)
def test_nonsense_limits_are_refused(limits: dict[str, float]) -> None:
    """Zero, negative or warn-after-the-end settings are configuration errors."""
    with pytest.raises(ValueError, match="session limits"):
        SessionLimits(**limits)
