"""Lockout after repeated failures, per account name and per source address.

Default: 5 failures within 15 minutes lock for 15 minutes (settings; GL 5.2 付表2, Provider
GL ①-9, the 大阪急性期・総合医療センター incident; MHLW.md row 7). The account key is the
name as typed, normalized, whether or not such an account exists: unknown names lock exactly
like real ones, so a lock tells nothing about existence. Second-factor failures count
against the account too (six TOTP digits are a small space).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import Lockout, LoginFailure


class Scope(StrEnum):
    ACCOUNT = "account"
    SOURCE = "source"


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    window_s: int
    duration_s: int


async def locked_until(
    session: AsyncSession, keys: list[tuple[Scope, str]], now: datetime
) -> datetime | None:
    """The latest lock among ``keys`` still in force at ``now``, or None."""
    latest = None
    for scope, key in keys:
        lock = await session.get(Lockout, (scope.value, key[:128]))
        if lock is not None and lock.locked_until > now:
            latest = lock.locked_until if latest is None else max(latest, lock.locked_until)
    return latest


async def record_failure(
    session: AsyncSession, scope: Scope, key: str, now: datetime, policy: LockoutPolicy
) -> bool:
    """Count one failure; True if it reached the threshold and locked ``key`` just now."""
    key = key[:128]
    session.add(LoginFailure(scope=scope.value, key=key, at=now))
    await session.flush()
    since = now - timedelta(seconds=policy.window_s)
    count = await session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.scope == scope.value, LoginFailure.key == key, LoginFailure.at > since)
    )
    if (count or 0) < policy.threshold:
        return False
    until = now + timedelta(seconds=policy.duration_s)
    lock = await session.get(Lockout, (scope.value, key))
    if lock is None:
        session.add(Lockout(scope=scope.value, key=key, locked_until=until))
    else:
        lock.locked_until = until
    # The count starts afresh when the lock ends.
    await clear(session, scope, key)
    return True


async def clear(session: AsyncSession, scope: Scope, key: str) -> None:
    """Forget ``key``'s failures (an account after a complete sign-in)."""
    await session.execute(
        delete(LoginFailure).where(LoginFailure.scope == scope.value, LoginFailure.key == key[:128])
    )
