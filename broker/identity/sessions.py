"""Server-side browser sessions: create, look up, promote, revoke.

The cookie holds a 256-bit token; the database keeps only its SHA-256. A session moves
through stages: ``mfa`` (password shown, 5 minutes to show a second factor), ``enroll`` (a
new person enrolling a first factor, 30 minutes), ``active`` (both factors: MHLW.md row 5).
The token changes at login and again at every promotion, so a token seen before MFA is
worthless after it (session fixation). An active session ends after ``idle_s`` without use
(default 15 min) and ``lifetime_s`` after login (default 12 h; MHLW.md row 8).

CSRF: the token a page must echo in ``X-CSRF-Token`` is an HMAC of the session token under
a key derived from the secret key, so it changes with the session and needs no storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import BrowserSession, User
from broker.secretbox import keyed_digest, new_token, token_digest

# ``__Host-``: the browser takes them only over HTTPS, for path /, without a Domain, so
# no sibling subdomain (or a plain-HTTP page) can set or overwrite them.
COOKIE: Final = "__Host-mamori_session"
CSRF_COOKIE: Final = "__Host-mamori_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
MFA_STAGE_S: Final = 5 * 60  # password shown, second factor pending: a short window
ENROLL_STAGE_S: Final = 30 * 60  # time to install an authenticator app and scan
# Touching last_seen on every request would make every poll a write; a minute is precise
# enough for a 15-minute idle timeout.
TOUCH_EVERY_S: Final = 60
MAX_TOKEN_CHARS: Final = 128
CHALLENGE_S: Final = 120  # the WebAuthn ceremony timeout the browser is given


class Stage(StrEnum):
    MFA = "mfa"
    ENROLL = "enroll"
    ACTIVE = "active"


@dataclass(frozen=True)
class SessionPolicy:
    idle_s: int
    lifetime_s: int


def csrf_token(csrf_key: bytes, session_token: str) -> str:
    return keyed_digest(csrf_key, "csrf:" + session_token)


def _stage_expiry(
    stage: Stage, started: datetime, now: datetime, policy: SessionPolicy
) -> datetime:
    if stage is Stage.MFA:
        return now + timedelta(seconds=MFA_STAGE_S)
    if stage is Stage.ENROLL:
        return now + timedelta(seconds=ENROLL_STAGE_S)
    return started + timedelta(seconds=policy.lifetime_s)


async def create(
    session: AsyncSession,
    user: User,
    stage: Stage,
    now: datetime,
    policy: SessionPolicy,
    source_address: str,
    user_agent: str,
) -> tuple[str, BrowserSession]:
    """A new session for ``user``; returns the cookie token (shown once) and the record."""
    token = new_token()
    record = BrowserSession(
        token_hash=token_digest(token),
        user_id=user.id,
        org_id=user.org_id,
        stage=stage.value,
        created_at=now,
        last_seen_at=now,
        expires_at=_stage_expiry(stage, now, now, policy),
        source_address=source_address[:64],
        user_agent=user_agent[:200],
    )
    session.add(record)
    await session.flush()
    return token, record


async def load(
    session: AsyncSession, token: str | None, now: datetime, policy: SessionPolicy
) -> tuple[BrowserSession, User] | None:
    """The live session for a cookie token and its (enabled) user, or None."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    row = (
        await session.execute(
            select(BrowserSession, User)
            .join(User, User.id == BrowserSession.user_id)
            .where(BrowserSession.token_hash == token_digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    record, user = row
    if record.revoked_at is not None or user.disabled_at is not None:
        return None
    if record.expires_at <= now:
        return None
    if record.stage == Stage.ACTIVE and now - record.last_seen_at > timedelta(
        seconds=policy.idle_s
    ):
        return None
    return record, user


def touch(record: BrowserSession, now: datetime) -> None:
    """Note activity (resets the idle timer); background polls do not call this."""
    if now - record.last_seen_at >= timedelta(seconds=TOUCH_EVERY_S):
        record.last_seen_at = now


def promote(record: BrowserSession, stage: Stage, now: datetime, policy: SessionPolicy) -> str:
    """Move to ``stage`` under a new token (the old one stops working); returns it."""
    token = new_token()
    record.token_hash = token_digest(token)
    record.stage = stage.value
    record.last_seen_at = now
    record.expires_at = _stage_expiry(stage, record.created_at, now, policy)
    record.challenge = None
    record.challenge_purpose = None
    record.challenge_expires_at = None
    return token


async def require_second_factor_again(session: AsyncSession, record_id: int, now: datetime) -> bool:
    """Back to the second-factor step (クリアスクリーン after an idle remote session,
    MHLW.md row 8): the cookie stays, but nothing but the MFA pages answers until the
    person shows a second factor again, within the short MFA window.

    One conditional UPDATE (no read first): a promotion or a ticket racing it sees either
    the old active row or the new one, never a mix. True if the session was active."""
    result = await session.execute(
        update(BrowserSession)
        .where(
            BrowserSession.id == record_id,
            BrowserSession.stage == Stage.ACTIVE.value,
            BrowserSession.revoked_at.is_(None),
        )
        .values(
            stage=Stage.MFA.value,
            expires_at=now + timedelta(seconds=MFA_STAGE_S),
            challenge=None,
            challenge_purpose=None,
            challenge_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def keep_challenge(record: BrowserSession, challenge: bytes, purpose: str, now: datetime) -> None:
    """Hold a WebAuthn challenge on the session until it is answered (2 minutes at most)."""
    record.challenge = challenge
    record.challenge_purpose = purpose
    record.challenge_expires_at = now + timedelta(seconds=CHALLENGE_S)


def take_challenge(record: BrowserSession, purpose: str, now: datetime) -> bytes | None:
    """The pending challenge for ``purpose``, spent whatever the outcome (single use)."""
    challenge, expires = record.challenge, record.challenge_expires_at
    fits = record.challenge_purpose == purpose and expires is not None and expires > now
    record.challenge = None
    record.challenge_purpose = None
    record.challenge_expires_at = None
    return challenge if fits else None


async def revoke(session: AsyncSession, record: BrowserSession, now: datetime) -> None:
    record.revoked_at = now
    await session.flush()


async def revoke_all(
    session: AsyncSession, user_id: int, now: datetime, keep: int | None = None
) -> list[int]:
    """Revoke every live session of ``user_id`` but ``keep``; returns their ids."""
    query = select(BrowserSession.id).where(
        BrowserSession.user_id == user_id, BrowserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(BrowserSession.id != keep)
    ids = list(await session.scalars(query))
    if ids:
        await session.execute(
            update(BrowserSession).where(BrowserSession.id.in_(ids)).values(revoked_at=now)
        )
    return ids


async def live_sessions(
    session: AsyncSession, user_id: int, now: datetime, policy: SessionPolicy
) -> list[BrowserSession]:
    """The user's sessions that still work, newest first."""
    rows = await session.scalars(
        select(BrowserSession)
        .where(
            BrowserSession.user_id == user_id,
            BrowserSession.revoked_at.is_(None),
            BrowserSession.expires_at > now,
        )
        .order_by(BrowserSession.id.desc())
    )
    idle = timedelta(seconds=policy.idle_s)
    return [r for r in rows if not (r.stage == Stage.ACTIVE and now - r.last_seen_at > idle)]
