"""Attempt limits for what a browser session shows after the password step: second-factor
codes and passkeys (at sign-in and at step-up) and the current password (at a password
change). All count against the account's lockout (``identity/lockout.py``) exactly like a
wrong password at sign-in (MHLW.md row 7): an attempt is reserved before it is evaluated, a
wrong one stays counted, and the lock ends the session that made it (issue 12: a stolen
session must be neither a code nor a password oracle).
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from broker.alerts import rules as alert_rules
from broker.api import deps
from broker.api.deps import Caller
from broker.audit.record import Event, Outcome, record
from broker.errors import Locked
from broker.identity import accounts, lockout, sessions
from broker.identity.lockout import Scope

GENERIC_FAILURE = "user name or password is wrong, or sign-in is locked for a while"


def policy(request: Request) -> lockout.LockoutPolicy:
    settings = deps.settings_of(request)
    return lockout.LockoutPolicy(
        settings.lockout_threshold, settings.lockout_window_s, settings.lockout_duration_s
    )


def minutes(policy_: lockout.LockoutPolicy) -> int:
    return max(1, policy_.duration_s // 60)


async def end_session(request: Request, caller: Caller) -> None:
    """After the commit that revoked it: the session's viewers end too."""
    await request.app.state.relay.end_sessions_of({caller.record.id})


async def reserve(request: Request, db: AsyncSession, caller: Caller, event: Event) -> None:
    """Reserve one attempt on the account and commit it before anything is evaluated: of
    concurrent attempts at most the threshold are ever evaluated. Refused (a lock, or the
    threshold taken by attempts under way): the session ends.

    Raises:
        Locked: refused.
    """
    now = deps.now_of(request)
    until = await lockout.reserve(
        db, [(Scope.ACCOUNT, accounts.lockout_name(caller.user))], now, policy(request)
    )
    if until is None:
        await db.commit()
        return
    # The audit row before the session row: the order every path takes (see failed()).
    record(db, caller.actor, event, Outcome.DENIED, now, detail="locked")
    await sessions.revoke(db, caller.record, now)
    await db.commit()
    await end_session(request, caller)
    raise Locked(GENERIC_FAILURE, int((until - now).total_seconds()) + 1)


async def failed(
    request: Request,
    db: AsyncSession,
    caller: Caller,
    event: Event,
    how: str,
    *,
    second_factor: bool,
) -> bool:
    """A reserved attempt was wrong: counted, audited, alerted; if it locked the account,
    the session is revoked (the caller commits, then calls ``end_session``). True if it
    locked."""
    now = deps.now_of(request)
    settings = deps.settings_of(request)
    policy_ = policy(request)
    # The count is committed on its own, before any audit or session write: the counter
    # row is never held while waiting for another lock, and the rest takes one order
    # (audit chain, then the session row), so concurrent attempts cannot deadlock on
    # PostgreSQL.
    locked = await lockout.fail(db, Scope.ACCOUNT, accounts.lockout_name(caller.user), now, policy_)
    await db.commit()
    record(db, caller.actor, event, Outcome.FAILURE, now, detail=how)
    if second_factor:
        await alert_rules.second_factor_failed(
            db,
            caller.user,
            now,
            source=caller.source,
            threshold=settings.alert_mfa_failures,
            window_s=settings.alert_mfa_window_s,
        )
    if locked:
        record(db, caller.actor, Event.LOCKOUT, Outcome.SUCCESS, now, detail="account")
        await alert_rules.lockout(
            db, caller.user, now, source=caller.source, minutes=minutes(policy_), scopes="account"
        )
        await sessions.revoke(db, caller.record, now)
    return locked


async def succeeded(db: AsyncSession, caller: Caller) -> None:
    """A reserved attempt was right: it is no failure."""
    await lockout.release(db, Scope.ACCOUNT, accounts.lockout_name(caller.user))
