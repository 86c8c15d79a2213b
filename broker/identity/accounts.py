"""Organizations, users, one-time enrollment links and passwords.

A person gets an account by a one-time link (24 h): an admin's invitation, the first-admin
CLI, or a factor reset. Opening it lets them set a password and enroll a second factor;
the link is spent when the password is set. Users are never deleted, only disabled, so the
audit trail keeps naming them.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import grants, opening_hours
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.models import EnrollmentToken, Organization, PasswordHistory, User
from broker.errors import PasswordRejected
from broker.identity import passwords
from broker.secretbox import new_token, token_digest

USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,63}$")
MAX_TOKEN_CHARS: Final = 128


class Role(StrEnum):
    ADMIN = "admin"
    DOCTOR = "doctor"
    STAFF = "staff"  # clerical (レセプト)
    VENDOR = "vendor"  # maintenance


class Purpose(StrEnum):
    FIRST_ADMIN = "first_admin"
    INVITE = "invite"
    RESET = "reset"


def normalize_username(raw: str) -> str:
    """NFKC, trimmed, lowercase: ＴＡＮＡＫＡ and tanaka are one account."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def valid_username(username: str) -> bool:
    return USERNAME_PATTERN.fullmatch(username) is not None


# Sign-in codes: no 0/o or 1/l/i, so a code read aloud or from paper is typed right.
CODE_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_CHARS: Final = 6
MAX_CODE_CHARS: Final = 32


def new_org_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))


def normalize_code(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()[:MAX_CODE_CHARS]


async def create_org(session: AsyncSession, name: str, now: datetime) -> Organization:
    """A new clinic, with the default grants (``grants.DEFAULT_GRANTS``) so it works at once,
    and the default opening hours (``opening_hours.DEFAULT_HOURS``) the privacy screen reads."""
    org = Organization(name=name, code=new_org_code(), created_at=now)
    session.add(org)
    await session.flush()
    await opening_hours.store(session, org.id, opening_hours.DEFAULT_HOURS)
    for grant in await grants.seed_defaults(session, org.id, now):
        record(
            session,
            Actor("", org_id=org.id, name="system"),
            Event.GRANT_CREATED,
            Outcome.SUCCESS,
            now,
            detail=f"grant={grant.id} default "
            + grants.describe(f"role={grant.role}", "*", grant.access, ()),
        )
    return org


async def find_org(session: AsyncSession, name: str) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.name == name).limit(1))


async def username_taken(session: AsyncSession, org_id: int, username: str) -> bool:
    """Whether ``org_id`` has an account of this name. Other clinics' names are not looked
    at: names are unique per clinic, so the answer tells nothing about other clinics."""
    found = await session.scalar(
        select(func.count()).where(User.org_id == org_id, User.username == username)
    )
    return bool(found)


async def create_user(
    session: AsyncSession, org_id: int, username: str, display_name: str, role: Role, now: datetime
) -> User:
    """A user without password or factors; they enroll through a link."""
    user = User(
        org_id=org_id,
        username=username,
        display_name=display_name,
        role=role.value,
        created_at=now,
        webauthn_handle=secrets.token_bytes(32),
    )
    session.add(user)
    await session.flush()
    return user


async def find_user(session: AsyncSession, username: str, clinic: str | None = None) -> User | None:
    """The account a sign-in names: ``username`` in the clinic whose code is ``clinic``, or,
    without a code, the one account of that name on the broker (None when several clinics
    have it: the person then types their clinic's code, which the console shows)."""
    query = select(User).where(User.username == username)
    if clinic:
        query = query.join(Organization, Organization.id == User.org_id).where(
            Organization.code == normalize_code(clinic)
        )
    found = list(await session.scalars(query.limit(2)))
    return found[0] if len(found) == 1 else None


def lockout_name(user: User) -> str:
    """The account's key in the lockout (identity/lockout.py): per clinic, since two clinics
    may each have a "tanaka"."""
    return f"{user.org_id}:{user.username}"


async def user_in_org(session: AsyncSession, org_id: int, user_id: int) -> User | None:
    """The user only if it belongs to ``org_id`` (tenant scoping: else not found)."""
    return await session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))


async def users_of(session: AsyncSession, org_id: int) -> list[User]:
    return list(await session.scalars(select(User).where(User.org_id == org_id).order_by(User.id)))


async def lock_org(session: AsyncSession, org_id: int) -> None:
    """Serialize changes that must keep an organization invariant (an enabled admin):
    a no-op UPDATE of its row holds the row lock on PostgreSQL and the write lock on
    SQLite until commit, so a second such change reads what the first committed. Start it
    in a fresh transaction (commit first): on SQLite a read transaction cannot wait for
    the write lock."""
    await session.execute(
        update(Organization).where(Organization.id == org_id).values(name=Organization.name)
    )


async def count_active_admins(session: AsyncSession, org_id: int) -> int:
    found = await session.scalar(
        select(func.count()).where(
            User.org_id == org_id, User.role == Role.ADMIN.value, User.disabled_at.is_(None)
        )
    )
    return int(found or 0)


async def issue_link(
    session: AsyncSession,
    user: User,
    purpose: Purpose,
    created_by: int | None,
    now: datetime,
    ttl_s: int,
) -> str:
    """A one-time enrollment token for ``user``; earlier unused links of the user die."""
    await session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.user_id == user.id, EnrollmentToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = new_token()
    session.add(
        EnrollmentToken(
            org_id=user.org_id,
            user_id=user.id,
            token_hash=token_digest(token),
            purpose=purpose.value,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    await session.flush()
    return token


async def peek_link(
    session: AsyncSession, token: str, now: datetime
) -> tuple[EnrollmentToken, User] | None:
    """The live link and its user, without spending it (to greet the person by name)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    row = (
        await session.execute(
            select(EnrollmentToken, User)
            .join(User, User.id == EnrollmentToken.user_id)
            .where(EnrollmentToken.token_hash == token_digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    link, user = row
    if link.used_at is not None or link.expires_at <= now or user.disabled_at is not None:
        return None
    return link, user


async def spend_link(session: AsyncSession, link: EnrollmentToken, now: datetime) -> bool:
    """Mark the link used; False if another request spent it first."""
    result = await session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == link.id, EnrollmentToken.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def recent_password_hashes(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user_id)
        .order_by(PasswordHistory.id.desc())
        .limit(passwords.HISTORY_DEPTH)
    )
    return list(rows)


async def set_password(session: AsyncSession, user: User, password: str, now: datetime) -> None:
    """Apply the policy and history, then store the argon2id hash.

    Raises:
        PasswordRejected: the policy or the history refuses it.
    """
    passwords.check_policy(password, user.username, user.display_name)
    if await passwords.reused_async(password, await recent_password_hashes(session, user.id)):
        raise PasswordRejected("reused", "one of your last 5 passwords")
    hashed = await passwords.hash_password_async(password)
    user.password_hash = hashed
    session.add(PasswordHistory(user_id=user.id, password_hash=hashed, created_at=now))
    await session.flush()
