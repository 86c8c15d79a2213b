"""Accounts and how people prove who they are: passwords, factors, enrollment links,
browser sessions, failed sign-ins and lockouts (``broker.identity``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime

ROLES: Final = ("admin", "doctor", "staff", "vendor")
SESSION_STAGES: Final = ("mfa", "enroll", "active")


class User(Base):
    """A person's account. Never deleted (audit events name it); disabled instead."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'doctor', 'staff', 'vendor')", "role"),
        UniqueConstraint("org_id", "username"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Lowercased, NFKC-normalized; unique within the clinic (not across the broker: a global
    # name told one clinic's admin another clinic's names). Sign-in names the clinic by its
    # code when the name alone is not unique (api/auth.py).
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # Random, not the row id: WebAuthn's user handle must not be guessable or reused.
    webauthn_handle: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)


class PasswordHistory(Base):
    """Every password hash a user has had, newest last (no reuse of the last 5: R7 ⑦)."""

    __tablename__ = "password_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EnrollmentToken(Base):
    """A one-time link: invitation, first admin, or re-enrollment after a factor reset."""

    __tablename__ = "enrollment_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class TotpCredential(Base):
    """A TOTP secret (AES-GCM); ``last_step`` is the replay cache that survives restarts."""

    __tablename__ = "totp_credentials"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # RFC 6238 §5.2: a code is accepted once; only steps after the last accepted one count.
    last_step: Mapped[int] = mapped_column(BigInteger, default=-1)


class Passkey(Base):
    """A WebAuthn credential; a user may hold several."""

    __tablename__ = "passkeys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class RecoveryCode(Base):
    """One of ten single-use recovery codes, as a SHA-256 digest."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class BrowserSession(Base):
    """A server-side browser session; the cookie holds a token whose digest is the key.

    ``stage`` is ``mfa`` after the password (second factor pending), ``enroll`` while a new
    person enrolls their first factor, ``active`` once both factors were shown.
    """

    __tablename__ = "browser_sessions"
    __table_args__ = (CheckConstraint("stage IN ('mfa', 'enroll', 'active')", "stage"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    stage: Mapped[str] = mapped_column(String(8))
    second_factor: Mapped[str | None] = mapped_column(String(16), default=None)
    # When this session last showed a second factor (sign-in, enrollment or step-up): a
    # factor or password change needs it recent (broker/api/step_up.py).
    second_factor_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    source_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))
    # A pending WebAuthn ceremony: its challenge is single use and short-lived.
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary(64), default=None)
    challenge_purpose: Mapped[str | None] = mapped_column(String(16), default=None)
    challenge_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class Lockout(Base):
    """Attempts and the lock of one account name or source address (``identity.lockout``):
    ``attempts`` reserved since ``window_started_at`` (evaluations under way and failures),
    and the lock, in force until ``locked_until``."""

    __tablename__ = "lockouts"
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # "account" or "source"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
