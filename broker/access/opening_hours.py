"""A clinic's opening hours (診療時間): weekly windows in the clinic's time zone.

The privacy screen's default (``broker.access.privacy_screen``) follows them: a session
outside opening hours runs while nobody may be in front of the PC to see it, so the
monitors show 「遠隔操作中」 and local input is off; during opening hours the staff use the
PC themselves and a remote helper works beside them.

The conventions are the grant windows' (broker/access/grants.py ``Window``): ``days`` 0 =
Monday, a bit mask when stored, minutes from local midnight, evaluated through
``broker.access.windows.decide`` in the clinic's zone. Unlike a grant window an opening
window lies within one day (start < end, an end of 1440 = 24:00): hours are read off a
clinic's door sign, and an overnight duty is two windows. No windows at all means the clinic
is never open, so "outside opening hours" is then always.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import windows as time_windows
from broker.access.grants import MAX_WINDOWS, MINUTES_PER_DAY, format_minute
from broker.access.windows import TimeWindow
from broker.db.models import OpeningWindowRow

__all__ = ["DEFAULT_HOURS", "MAX_WINDOWS", "OpeningWindow", "describe", "hours_of", "is_open"]


@dataclass(frozen=True)
class OpeningWindow:
    """``days`` (0 = Monday) open from ``start_minute`` to ``end_minute`` (local time)."""

    days: frozenset[int]
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not self.days or not self.days <= time_windows.EVERY_DAY:
            raise ValueError("a window needs one or more days 0..6")
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("opening hours run from 00:00..23:59 to a later time up to 24:00")

    @property
    def days_mask(self) -> int:
        return time_windows.days_mask(self.days)

    @classmethod
    def from_row(cls, row: OpeningWindowRow) -> OpeningWindow:
        return cls(time_windows.days_of_mask(row.days), row.start_minute, row.end_minute)

    def time_windows(self) -> list[TimeWindow]:
        """The same hours as ``TimeWindow``s. An end of 24:00 is the next day's 00:00 (a
        TimeWindow ending at or before its start runs into the next day); a whole day
        (00:00-24:00) is two halves, since a TimeWindow must not start where it ends."""
        start = dt.time(self.start_minute // 60, self.start_minute % 60)
        if self.end_minute == MINUTES_PER_DAY:
            if self.start_minute == 0:
                noon = dt.time(12)
                return [TimeWindow(self.days, start, noon), TimeWindow(self.days, noon, start)]
            return [TimeWindow(self.days, start, dt.time(0))]
        end = dt.time(self.end_minute // 60, self.end_minute % 60)
        return [TimeWindow(self.days, start, end)]


# What a new clinic starts with (and what migration 0017 gave the clinics that existed):
# the hours most Japanese clinics put on the door, 月〜金 09:00-18:00 and 土 09:00-12:00
# (Saturday mornings are usual, afternoons and Sundays closed). Outside them the privacy
# screen is on by default, so an evening or weekend session never shows a chart to an
# empty room; an admin corrects the hours on the settings page.
DEFAULT_HOURS: Final = (
    OpeningWindow(time_windows.WEEKDAYS, 9 * 60, 18 * 60),
    OpeningWindow(frozenset({5}), 9 * 60, 12 * 60),
)


def is_open(hours: Sequence[OpeningWindow], zone: str, now: dt.datetime) -> bool:
    """Whether ``now`` (aware) falls in the clinic's ``hours``, read in ``zone``."""
    if not hours:
        return False  # time_windows.decide reads "no windows" as "any time"; here: closed
    spans = [span for window in hours for span in window.time_windows()]
    return time_windows.decide(spans, zone, now).allowed


def describe(hours: Sequence[OpeningWindow]) -> str:
    """The hours for the audit trail, e.g. ``days=0,1,2,3,4 09:00-18:00, days=5 09:00-12:00``."""
    if not hours:
        return "none"
    return ", ".join(
        f"days={','.join(str(d) for d in sorted(w.days))} "
        f"{format_minute(w.start_minute)}-{format_minute(w.end_minute)}"
        for w in hours
    )


async def hours_of(session: AsyncSession, org_id: int) -> tuple[OpeningWindow, ...]:
    """``org_id``'s opening hours as stored, in the order they were saved."""
    rows = await session.scalars(
        select(OpeningWindowRow)
        .where(OpeningWindowRow.org_id == org_id)
        .order_by(OpeningWindowRow.id)
    )
    return tuple(OpeningWindow.from_row(row) for row in rows)


async def store(session: AsyncSession, org_id: int, hours: Sequence[OpeningWindow]) -> None:
    """Replace ``org_id``'s opening hours with ``hours`` (the caller checked the count)."""
    await session.execute(delete(OpeningWindowRow).where(OpeningWindowRow.org_id == org_id))
    session.add_all(
        OpeningWindowRow(
            org_id=org_id, days=w.days_mask, start_minute=w.start_minute, end_minute=w.end_minute
        )
        for w in hours
    )
    await session.flush()
