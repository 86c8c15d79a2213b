"""Weekly time windows in the clinic's time zone: when a grant lets someone connect.

Clerks do after-hours レセプト work only inside the hours the clinic allows (MHLW.md row 2):
a grant carries windows such as "weekdays 18:00–23:00". Windows are defined in the
organization's local time (that is how a clinic thinks of its hours) and evaluated against
UTC instants through zoneinfo, so the decision is right whatever zone the broker runs in.
A window may cross midnight (22:00–02:00 belongs to the day it starts on).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEKDAYS = frozenset(range(5))  # Monday..Friday, as datetime.weekday() counts
EVERY_DAY = frozenset(range(7))


def days_mask(days: frozenset[int]) -> int:
    """Days (0 = Monday) as stored: one bit a day, Monday the lowest."""
    return sum(1 << day for day in days)


def days_of_mask(mask: int) -> frozenset[int]:
    """The days a stored mask holds (the inverse of ``days_mask``)."""
    return frozenset(day for day in EVERY_DAY if mask & (1 << day))


@dataclass(frozen=True)
class TimeWindow:
    """``days`` (0 = Monday) on which the window opens at ``start`` and closes at ``end``."""

    days: frozenset[int]
    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if not self.days or not self.days <= EVERY_DAY:
            raise ValueError("a window needs one or more days 0..6")
        if self.start == self.end:
            raise ValueError("a window must not start and end at the same time")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local to the organization; give no tzinfo")

    def open_interval(self, now_local: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """The occurrence of this window containing ``now_local``, if any."""
        for opened_on in (now_local.date(), now_local.date() - dt.timedelta(days=1)):
            if opened_on.weekday() not in self.days:
                continue
            begin = dt.datetime.combine(opened_on, self.start, now_local.tzinfo)
            finish_day = opened_on if self.end > self.start else opened_on + dt.timedelta(days=1)
            finish = dt.datetime.combine(finish_day, self.end, now_local.tzinfo)
            if begin <= now_local < finish:
                return begin, finish
        return None


@dataclass(frozen=True)
class WindowDecision:
    allowed: bool
    closes_at: dt.datetime | None  # UTC; when the session must end (None: no window applies)


def decide(windows: list[TimeWindow], zone: str, now: dt.datetime) -> WindowDecision:
    """Whether ``now`` (aware, any zone) falls in one of ``windows`` of an org in ``zone``.

    No windows means no time restriction. Overlapping windows extend each other: the
    session may run until the last of the windows containing ``now`` closes.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not windows:
        return WindowDecision(True, None)
    local = now.astimezone(ZoneInfo(zone))
    ends = [interval[1] for w in windows if (interval := w.open_interval(local)) is not None]
    if not ends:
        return WindowDecision(False, None)
    return WindowDecision(True, max(ends).astimezone(dt.UTC))
