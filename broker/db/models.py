"""The broker's tables (SQLAlchemy 2 declarative). Every row belongs to one organization.

Secrets are never stored as given: session, ticket, enrollment and agent tokens and recovery
codes as SHA-256 digests (they carry 128+ bits of entropy, so a fast hash cannot be reversed),
passwords as argon2id, TOTP secrets AES-GCM encrypted. Times are UTC (``UtcDateTime``).
The schema itself is created by the Alembic migrations in ``broker/db/migrations``; a test
compares these models with the migrated database on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ROLES: Final = ("admin", "doctor", "staff", "vendor")
SESSION_STAGES: Final = ("mfa", "enroll", "active")

# Stable constraint names, so migrations can refer to them on every backend.
NAMING: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the broker stores UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organization(Base):
    """A tenant: one clinic (an EHR vendor's broker may hold hundreds)."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class User(Base):
    """A person's account. Never deleted (audit events name it); disabled instead."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'doctor', 'staff', 'vendor')", "role"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Lowercased, NFKC-normalized; unique across the broker so login needs no clinic picker.
    username: Mapped[str] = mapped_column(String(64), unique=True)
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


class LoginFailure(Base):
    """One failed sign-in, counted per account name and per source address."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_scope_key_at", "scope", "key", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # "account" or "source"
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Lockout(Base):
    """A lock on an account name or a source address, until ``locked_until``."""

    __tablename__ = "lockouts"
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    locked_until: Mapped[datetime] = mapped_column(UtcDateTime())


class ViewerTicket(Base):
    """A single-use, 30-second ticket for one viewer WebSocket (never a long-lived token)."""

    __tablename__ = "viewer_tickets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("browser_sessions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class AgentCredential(Base):
    """An organization's agent registration token (until enrolled client certificates)."""

    __tablename__ = "agent_credentials"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class Host(Base):
    """A clinic PC whose agent has registered; host ids are unique within an organization."""

    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("org_id", "host_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    host_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Append-only: triggers refuse UPDATE and DELETE (the accountability issue chains it)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))
    source_address: Mapped[str] = mapped_column(String(64))
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    detail: Mapped[str] = mapped_column(String(500), default="")


DEVICE_STATES: Final = ("pending", "approved", "denied", "revoked")


class ViewingDevice(Base):
    """A browser a person views hosts from: its non-extractable P-256 key, as an admin
    decided about it (MHLW.md row 4: every device in the register, approved before use).

    One browser profile holds one key; each person who uses it registers it for themselves,
    so (user, fingerprint) is unique, and approval is per person and device.
    """

    __tablename__ = "viewing_devices"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'approved', 'denied', 'revoked')", "state"),
        UniqueConstraint("user_id", "fingerprint"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))
    # The public JWK as registered, reduced to kty, crv, x, y (canonical JSON).
    public_key: Mapped[str] = mapped_column(String(300))
    # SHA-256 of the key's SubjectPublicKeyInfo, hex (broker.security.device_keys).
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class DeviceChallenge(Base):
    """A broker challenge for one viewer session: single use, 30 s, bound to the browser
    session, the device and the host; once answered it names the ticket it earned."""

    __tablename__ = "device_challenges"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("browser_sessions.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("viewing_devices.id"))
    host_id: Mapped[str] = mapped_column(String(64))
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("viewer_tickets.id"), default=None, index=True
    )
