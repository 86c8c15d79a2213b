"""Lockout after repeated failures, per account name and per source address.

Default: 5 failures within 15 minutes lock for 15 minutes (settings; GL 5.2 付表2, Provider
GL ①-9, the 大阪急性期・総合医療センター incident; MHLW.md row 7). The account key is the
name as typed, normalized, whether or not such an account exists: unknown names lock exactly
like real ones, so a lock tells nothing about existence. Second-factor failures count
against the account too (six TOTP digits are a small space).

Atomic under concurrency (issue 12: a burst of 40 guesses had 18 evaluated before the lock
held). An attempt is *reserved* before the password or code is evaluated, by one conditional
UPDATE on the key's counter row (``attempts < threshold`` and not locked): the database
decides, so of any number of concurrent requests at most ``threshold`` per window are ever
evaluated, on SQLite (writers serialize) and PostgreSQL (the row lock, and the WHERE clause
evaluated again on the row's newest version) alike, across broker replicas. A reservation
that turns out right is handed back (``release``); one that fails stays counted, and a
failure once the reservations reached the threshold locks the key (``fail``). The caller
commits the reservation before the slow evaluation, so no write lock is held across it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import Lockout

_KEY_CHARS = 128


class Scope(StrEnum):
    ACCOUNT = "account"
    SOURCE = "source"


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    window_s: int
    duration_s: int


def _where(scope: Scope, key: str) -> ColumnElement[bool]:
    return and_(Lockout.scope == scope.value, Lockout.key == key[:_KEY_CHARS])


def _not_locked(now: datetime) -> ColumnElement[bool]:
    return or_(Lockout.locked_until.is_(None), Lockout.locked_until <= now)


async def _ensure_row(session: AsyncSession, scope: Scope, key: str) -> None:
    """The key's counter row exists (made by whichever request comes first)."""
    values = {"scope": scope.value, "key": key[:_KEY_CHARS], "attempts": 0}
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(postgresql.insert(Lockout).values(values).on_conflict_do_nothing())
    else:
        await session.execute(sqlite.insert(Lockout).values(values).on_conflict_do_nothing())


async def locked_until(
    session: AsyncSession, keys: list[tuple[Scope, str]], now: datetime
) -> datetime | None:
    """The latest lock among ``keys`` still in force at ``now``, or None."""
    latest = None
    for scope, key in keys:
        lock = await session.get(Lockout, (scope.value, key[:_KEY_CHARS]))
        if lock is not None:
            await session.refresh(lock)
        if lock is not None and lock.locked_until is not None and lock.locked_until > now:
            latest = lock.locked_until if latest is None else max(latest, lock.locked_until)
    return latest


async def _reserve_one(
    session: AsyncSession, scope: Scope, key: str, now: datetime, policy: LockoutPolicy
) -> bool:
    await _ensure_row(session, scope, key)
    since = now - timedelta(seconds=policy.window_s)
    stale = or_(Lockout.window_started_at.is_(None), Lockout.window_started_at <= since)
    result = await session.execute(
        update(Lockout)
        .where(
            _where(scope, key), _not_locked(now), or_(stale, Lockout.attempts < policy.threshold)
        )
        .values(
            attempts=case((stale, 1), else_=Lockout.attempts + 1),
            window_started_at=case((stale, now), else_=Lockout.window_started_at),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def reserve(
    session: AsyncSession, keys: list[tuple[Scope, str]], now: datetime, policy: LockoutPolicy
) -> datetime | None:
    """Reserve one attempt on every key before evaluating it; None if reserved, else until
    when to come back (a lock in force, or the window of attempts still being evaluated).
    Nothing stays reserved when one key refuses."""
    taken: list[tuple[Scope, str]] = []
    for scope, key in keys:
        if await _reserve_one(session, scope, key, now, policy):
            taken.append((scope, key))
            continue
        for done in taken:
            await release(session, *done)
        until = await locked_until(session, [(scope, key)], now)
        return until or now + timedelta(seconds=policy.window_s)
    return None


async def release(session: AsyncSession, scope: Scope, key: str) -> None:
    """Hand a reservation back: what it reserved was right (not a failure)."""
    await session.execute(
        update(Lockout)
        .where(_where(scope, key), Lockout.attempts > 0)
        .values(attempts=Lockout.attempts - 1)
        .execution_options(synchronize_session=False)
    )


async def fail(
    session: AsyncSession, scope: Scope, key: str, now: datetime, policy: LockoutPolicy
) -> bool:
    """A reserved attempt failed (it stays counted); True if this locked ``key`` just now:
    the attempts of the window reached the threshold. The count starts afresh after."""
    result = await session.execute(
        update(Lockout)
        .where(_where(scope, key), _not_locked(now), Lockout.attempts >= policy.threshold)
        .values(
            locked_until=now + timedelta(seconds=policy.duration_s),
            attempts=0,
            window_started_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def clear(session: AsyncSession, scope: Scope, key: str) -> None:
    """Forget ``key``'s failures (an account after a complete sign-in); a lock stays."""
    await session.execute(
        update(Lockout)
        .where(_where(scope, key))
        .values(attempts=0, window_started_at=None)
        .execution_options(synchronize_session=False)
    )
