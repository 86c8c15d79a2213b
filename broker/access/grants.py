"""Grants: who may open which host, view-only or with control, in which weekly windows.

A grant names a subject (one user, or every user of a role), a host (one, or all hosts of the
clinic), an access (``view`` or ``control``) and zero or more weekly windows in the
organization's local time (none = any time). MHLW.md row 2: who may connect from outside,
to what, approved in advance by the clinic; each grant keeps who made it and when.

Fail closed: a person with no matching grant is refused (``no_grant``); with grants but none
open now, ``outside_window``. Several matching grants combine: control beats view, and the
session may run until the last open window of its access level closes (windows that follow
each other without a gap count as one).

Windows are kept as local wall-clock times plus the organization's zone, never converted to
UTC for storage: "18:00-23:00 on weekdays" is a fact about the clinic's clock, and a UTC
copy would be wrong after a DST change or a change of the clinic's zone. Instants (created,
revoked, when a session must close) are UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import windows as time_windows
from broker.access.windows import TimeWindow
from broker.db.models import Grant, GrantWindow, User

MINUTES_PER_DAY: Final = 24 * 60
MAX_WINDOWS: Final = 14  # two per weekday is more than any clinic's rota needs
# A chain of back-to-back windows is followed this far (a week of daily windows and more).
_MAX_CHAIN: Final = 16


class Access(StrEnum):
    VIEW = "view"  # the picture only: the agent refuses every input message
    CONTROL = "control"  # picture, keyboard and pointer


class SubjectKind(StrEnum):
    USER = "user"
    ROLE = "role"


# What a new clinic starts with, so it works out of the box: admins and doctors open every
# host with control at any time; clerical staff and vendors get nothing until an admin says
# which hosts and hours (staff's after-hours レセプト work, vendors per approved session).
DEFAULT_GRANTS: Final = (("admin", Access.CONTROL), ("doctor", Access.CONTROL))


@dataclass(frozen=True)
class Window:
    """A weekly window as stored: ``days`` 0 = Monday; minutes from local midnight."""

    days: frozenset[int]
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not self.days or not self.days <= time_windows.EVERY_DAY:
            raise ValueError("a window needs one or more days 0..6")
        for minute in (self.start_minute, self.end_minute):
            if not 0 <= minute < MINUTES_PER_DAY:
                raise ValueError("window times are 00:00..23:59")
        if self.start_minute == self.end_minute:
            raise ValueError("a window must not start and end at the same time")

    @property
    def days_mask(self) -> int:
        return time_windows.days_mask(self.days)

    @classmethod
    def from_row(cls, row: GrantWindow) -> Window:
        return cls(time_windows.days_of_mask(row.days), row.start_minute, row.end_minute)

    def time_window(self) -> TimeWindow:
        return TimeWindow(
            self.days,
            dt.time(self.start_minute // 60, self.start_minute % 60),
            dt.time(self.end_minute // 60, self.end_minute % 60),
        )


@dataclass(frozen=True)
class Rule:
    """A grant as the decision sees it."""

    grant_id: int
    access: Access
    windows: tuple[Window, ...]  # empty: any time


class Refusal(StrEnum):
    """Why a session is refused; stable codes the client translates (``api.*``/``error.*``)."""

    NO_GRANT = "no_grant"
    OUTSIDE_WINDOW = "outside_window"
    VENDOR_NOT_APPROVED = "vendor_not_approved"


@dataclass(frozen=True)
class Decision:
    """The outcome for one person, one host, one instant."""

    refusal: Refusal | None
    access: Access | None = None
    closes_at: dt.datetime | None = None  # UTC; None: no window limits the session
    grant_ids: tuple[int, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def view_only(self) -> bool:
        return self.access is not Access.CONTROL


def _open(
    rules: Iterable[Rule], zone: str, at: dt.datetime
) -> list[tuple[Rule, dt.datetime | None]]:
    found = []
    for rule in rules:
        window = time_windows.decide([w.time_window() for w in rule.windows], zone, at)
        if window.allowed:
            found.append((rule, window.closes_at))
    return found


def _latest(closes: Sequence[dt.datetime | None]) -> dt.datetime | None:
    return None if any(c is None for c in closes) else max(c for c in closes if c is not None)


def decide(rules: Sequence[Rule], zone: str, now: dt.datetime) -> Decision:
    """What ``rules`` (the grants matching a person and a host) allow at ``now``.

    Args:
        rules: the matching grants; empty means none.
        zone: the organization's zoneinfo name (already validated).
        now: an aware instant.
    """
    if not rules:
        return Decision(Refusal.NO_GRANT)
    open_now = _open(rules, zone, now)
    if not open_now:
        return Decision(Refusal.OUTSIDE_WINDOW)
    control = [(r, c) for r, c in open_now if r.access is Access.CONTROL]
    access = Access.CONTROL if control else Access.VIEW
    chosen = control or open_now
    closes_at = _latest([c for _, c in chosen])
    # Back-to-back windows (Mon 18:00-24:00, then Tue 00:00-02:00) make one stretch.
    qualifying = [r for r in rules if access is Access.VIEW or r.access is Access.CONTROL]
    for _ in range(_MAX_CHAIN):
        if closes_at is None:
            break
        following = _open(qualifying, zone, closes_at)
        later = _latest([c for _, c in following]) if following else closes_at
        if later is not None and later <= closes_at:
            break
        closes_at = later
    return Decision(None, access, closes_at, tuple(sorted(r.grant_id for r, _ in chosen)))


# ---- storage ---------------------------------------------------------------------------


async def windows_of(session: AsyncSession, grant_ids: Sequence[int]) -> dict[int, list[Window]]:
    """Each grant's windows, by grant id (grants without windows are absent)."""
    if not grant_ids:
        return {}
    rows = await session.scalars(
        select(GrantWindow)
        .where(GrantWindow.grant_id.in_(grant_ids))
        .order_by(GrantWindow.grant_id, GrantWindow.id)
    )
    found: dict[int, list[Window]] = {}
    for row in rows:
        found.setdefault(row.grant_id, []).append(Window.from_row(row))
    return found


async def active_grants(session: AsyncSession, org_id: int) -> list[Grant]:
    """The organization's grants in force, oldest first."""
    rows = await session.scalars(
        select(Grant).where(Grant.org_id == org_id, Grant.revoked_at.is_(None)).order_by(Grant.id)
    )
    return list(rows)


async def find(session: AsyncSession, org_id: int, grant_id: int) -> Grant | None:
    """A grant in force of ``org_id``; another clinic's id is None like a missing one."""
    return await session.scalar(
        select(Grant).where(
            Grant.id == grant_id, Grant.org_id == org_id, Grant.revoked_at.is_(None)
        )
    )


async def holds_any(session: AsyncSession, user: User) -> bool:
    """Whether any grant in force names ``user`` (by id or role), for any host: the host
    list tells "ask an admin for a grant" from "no PC of yours is on" with it."""
    found = await session.scalar(
        select(Grant.id)
        .where(
            Grant.org_id == user.org_id,
            Grant.revoked_at.is_(None),
            or_(Grant.user_id == user.id, Grant.role == user.role),
        )
        .limit(1)
    )
    return found is not None


async def rules_for(
    session: AsyncSession, user: User, host_refs: Sequence[int | None]
) -> dict[int | None, list[Rule]]:
    """The grants matching ``user`` (by id or role) for each host row id in ``host_refs``
    (None: a host that never registered, which only all-host grants cover)."""
    rows = list(
        await session.scalars(
            select(Grant).where(
                Grant.org_id == user.org_id,
                Grant.revoked_at.is_(None),
                or_(Grant.user_id == user.id, Grant.role == user.role),
            )
        )
    )
    windows = await windows_of(session, [g.id for g in rows])
    rules = {g.id: Rule(g.id, Access(g.access), tuple(windows.get(g.id, []))) for g in rows}
    return {
        ref: [rules[g.id] for g in rows if g.host_ref is None or g.host_ref == ref]
        for ref in host_refs
    }


async def _add_windows(session: AsyncSession, grant: Grant, windows: Sequence[Window]) -> None:
    for w in windows:
        session.add(
            GrantWindow(
                org_id=grant.org_id,
                grant_id=grant.id,
                days=w.days_mask,
                start_minute=w.start_minute,
                end_minute=w.end_minute,
            )
        )
    await session.flush()


async def create(
    session: AsyncSession,
    org_id: int,
    *,
    user_id: int | None,
    role: str | None,
    host_ref: int | None,
    access: Access,
    windows: Sequence[Window],
    created_by: int | None,
    now: dt.datetime,
) -> Grant:
    """Add a grant (the caller has checked that user and host belong to ``org_id``)."""
    if (user_id is None) == (role is None):
        raise ValueError("a grant names either one user or one role")
    grant = Grant(
        org_id=org_id,
        user_id=user_id,
        role=role,
        host_ref=host_ref,
        access=access.value,
        created_by=created_by,
        created_at=now,
    )
    session.add(grant)
    await session.flush()
    await _add_windows(session, grant, windows)
    return grant


async def change(
    session: AsyncSession,
    grant: Grant,
    *,
    user_id: int | None,
    role: str | None,
    host_ref: int | None,
    access: Access,
    windows: Sequence[Window],
    changed_by: int,
    now: dt.datetime,
) -> None:
    """Replace what ``grant`` says; its windows are replaced as a whole."""
    if (user_id is None) == (role is None):
        raise ValueError("a grant names either one user or one role")
    grant.user_id, grant.role, grant.host_ref = user_id, role, host_ref
    grant.access = access.value
    grant.updated_by, grant.updated_at = changed_by, now
    for row in await session.scalars(select(GrantWindow).where(GrantWindow.grant_id == grant.id)):
        await session.delete(row)
    await session.flush()
    await _add_windows(session, grant, windows)


def revoke(grant: Grant, revoked_by: int, now: dt.datetime) -> None:
    """Take a grant out of force; the row stays as the record of what was allowed."""
    grant.revoked_by, grant.revoked_at = revoked_by, now


async def seed_defaults(session: AsyncSession, org_id: int, now: dt.datetime) -> list[Grant]:
    """The grants a new organization starts with (``DEFAULT_GRANTS``)."""
    return [
        await create(
            session,
            org_id,
            user_id=None,
            role=role,
            host_ref=None,
            access=access,
            windows=(),
            created_by=None,
            now=now,
        )
        for role, access in DEFAULT_GRANTS
    ]


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def describe(subject: str, host: str, access: Access | str, windows: Sequence[Window]) -> str:
    """One line for the audit trail, e.g. ``role=staff host=* access=view days=0,1 18:00-23:00``."""
    spans = (
        "; ".join(
            f"days={','.join(str(d) for d in sorted(w.days))} "
            f"{format_minute(w.start_minute)}-{format_minute(w.end_minute)}"
            for w in windows
        )
        or "any_time"
    )
    return f"{subject} host={host} access={access} windows={spans}"
