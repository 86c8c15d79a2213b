"""The broker's tables (SQLAlchemy 2 declarative). Every row belongs to one organization.

Secrets are never stored as given: session, ticket and enrollment tokens, agent enrollment
codes and recovery codes as SHA-256 digests (they carry 128+ bits of entropy, so a fast hash
cannot be reversed), passwords as argon2id, TOTP secrets and CA keys AES-GCM encrypted.
Times are UTC (``UtcDateTime``).
The schema itself is created by the Alembic migrations in ``broker/db/migrations``; a test
compares these models with the migrated database on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
DEFAULT_TIME_ZONE: Final = "Asia/Tokyo"
GRANT_ACCESS: Final = ("view", "control")
VENDOR_REQUEST_STATES: Final = ("pending", "approved", "denied", "used")
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
    # A zoneinfo name: grants' weekly windows are wall-clock times in this zone.
    time_zone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIME_ZONE, server_default=DEFAULT_TIME_ZONE
    )


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


class OrganizationCa(Base):
    """An organization's agent CA: the certificate, and its private key sealed (AES-GCM,
    bound to the organization) under a key derived from MAMORI_SECRET_KEY."""

    __tablename__ = "organization_cas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), unique=True)
    cert_pem: Mapped[str] = mapped_column(String(4000))
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())


class AgentEnrollmentCode(Base):
    """A one-time code (SHA-256 digest) that lets one host enroll into the organization."""

    __tablename__ = "agent_enrollment_codes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class AgentCertificate(Base):
    """A client certificate issued to a host agent by its organization's CA.

    ``renewed_at`` is set on the certificate a renewal replaced (it stays valid until its
    own end, so a renewal answer lost on the way locks no host out); ``revoked_at`` ends it.
    """

    __tablename__ = "agent_certificates"
    __table_args__ = (
        UniqueConstraint("org_id", "serial"),
        Index("ix_agent_certificates_org_id_host_id", "org_id", "host_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str] = mapped_column(String(40))  # lowercase hex (at most 159 bits)
    spki_sha256: Mapped[str] = mapped_column(String(64))
    cert_pem: Mapped[str] = mapped_column(String(4000))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    renewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class Host(Base):
    """A clinic PC enrolled (or whose agent has connected); host ids are unique within an
    organization."""

    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("org_id", "host_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    host_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Append-only and hash-chained (``broker/audit/ledger.py``): triggers refuse
    UPDATE, and DELETE of any record a signed purge anchor does not cover.

    ``chain`` is the organization's id (0 for broker-level events); ``sequence`` counts the
    chain's records from 1 without gaps; ``hash`` is SHA-256 over ``prev_hash`` and the
    record's fields (``audit_chain.record_fields``).
    """

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "sequence"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[int] = mapped_column(BigInteger)
    sequence: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))
    source_address: Mapped[str] = mapped_column(String(64))
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    detail: Mapped[str] = mapped_column(String(500), default="")


class OrgPolicy(Base):
    """An organization's own limits for remote sessions; without a row the broker's defaults
    (MAMORI_REMOTE_*) apply. Set on the console's settings page (MHLW.md rows 3, 8)."""

    __tablename__ = "org_policies"
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    idle_s: Mapped[int] = mapped_column(Integer)
    max_s: Mapped[int] = mapped_column(Integer)
    warn_s: Mapped[int] = mapped_column(Integer)
    watermark: Mapped[bool] = mapped_column(Boolean)
    block_local_input: Mapped[bool] = mapped_column(Boolean)
    end_on_violation: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReportReview(Base):
    """Someone checked the compliance report: who, when, and what they noted (MHLW.md row 11,
    "reviewed regularly"). Rows are only added; the newest is the report's mark."""

    __tablename__ = "report_reviews"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    reviewed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(String(500), default="")


class Alert(Base):
    """Something a clinic owner must be told (a lockout, a PC gone offline, ...).

    ``facts`` holds the particulars as plain values (user name, host name, times, counts) so
    the console and the mail can say it in plain words in either language; ``subject`` names
    what the alert is about (a user name, a host id) so repeats can be recognized.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("severity IN ('info', 'warning', 'critical')", "severity"),
        Index("ix_alerts_org_id_created_at", "org_id", "created_at"),
        Index("ix_alerts_org_id_kind_subject", "org_id", "kind", "subject"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(100), default="")
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class AlertDelivery(Base):
    """One alert to one channel (mail or webhook): the durable outbox the worker drains.

    Written in the same transaction as the alert, so an alert is never lost between the
    request and the network; ``state`` moves pending -> delivered, or -> failed after the
    last attempt. ``target`` is where it goes, fixed when the alert was raised.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        CheckConstraint("channel IN ('mail', 'webhook')", "channel"),
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", "state"),
        Index("ix_alert_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)


class AlertSettings(Base):
    """Where an organization's alerts go, and its alert rules' knobs (one row per org;
    without a row the defaults of ``broker.alerts.settings`` apply)."""

    __tablename__ = "alert_settings"
    __table_args__ = (
        CheckConstraint(
            "usual_start_minute IS NULL OR (usual_start_minute >= 0 AND usual_start_minute < 1440)",
            "usual_start_minute",
        ),
        CheckConstraint(
            "usual_end_minute IS NULL OR (usual_end_minute >= 0 AND usual_end_minute < 1440)",
            "usual_end_minute",
        ),
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    # Addresses, one per line (at most ten; checked by the API).
    mail_recipients: Mapped[str] = mapped_column(String(2600), default="")
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # AES-GCM (secretbox), bound to the organization; shown once when made.
    webhook_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(200), default=None)
    # Usual hours in the clinic's local time, minutes after midnight; NULL: rule off.
    usual_start_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    usual_end_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    # An agent offline this long raises an alert; NULL: rule off.
    agent_offline_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)


class Grant(Base):
    """Who (one user, or everyone of a role) may open which host (one, or all: ``host_ref``
    None) with which access, in which weekly windows (``GrantWindow``; none = any time).

    MHLW.md row 2: who may connect from outside, to what, approved in advance; the approver
    and the date are kept (``created_by``/``created_at``; None = seeded with the clinic).
    Removing a grant sets ``revoked_at`` so the list of what was allowed stays answerable.
    """

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("access IN ('view', 'control')", "access"),
        CheckConstraint("(user_id IS NULL) <> (role IS NULL)", "subject"),
        CheckConstraint("role IS NULL OR role IN ('admin', 'doctor', 'staff', 'vendor')", "role"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    host_ref: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"), default=None)
    access: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)


class GrantWindow(Base):
    """One weekly window of a grant, in the organization's local time (not UTC: a recurring
    wall-clock window converted to UTC once would drift across DST and zone changes).

    ``days`` is a bit mask, bit 0 = Monday; minutes count from local midnight; an end at or
    before the start runs into the next day (22:00-02:00).
    """

    __tablename__ = "grant_windows"
    __table_args__ = (
        CheckConstraint("days BETWEEN 1 AND 127", "days"),
        CheckConstraint("start_minute BETWEEN 0 AND 1439", "start_minute"),
        CheckConstraint("end_minute BETWEEN 0 AND 1439", "end_minute"),
        CheckConstraint("start_minute <> end_minute", "not_empty"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    days: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class VendorRequest(Base):
    """A vendor asks to open one host once; an admin approves or denies (MHLW.md row 12).

    ``pending`` -> ``approved`` (good for one session until ``expires_at``) -> ``used``; or
    ``denied``. A pending or approved request past ``expires_at`` has expired.
    """

    __tablename__ = "vendor_requests"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'approved', 'denied', 'used')", "state"),
        Index("ix_vendor_requests_org_id_state", "org_id", "state"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    host_ref: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    reason: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    session_id: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditChainHead(Base):
    """The newest record of each audit chain. Writers lock this row (FOR UPDATE; SQLite's
    single writer) to link a record, so two transactions can never fork a chain."""

    __tablename__ = "audit_chain_heads"
    chain: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed (Ed25519) statement of an audit chain's state at ``sequence``; append-only.

    ``periodic`` checkpoints catch a truncated tail and a chain rewritten with fresh hashes;
    a ``purge`` anchor licenses the deletion of every record up to ``sequence`` (the
    database's trigger checks it exists) and anchors the next record's previous hash.
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (
        CheckConstraint("kind IN ('periodic', 'purge')", "kind"),
        Index("ix_audit_checkpoints_chain_sequence", "chain", "sequence"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[int] = mapped_column(BigInteger)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    kind: Mapped[str] = mapped_column(String(8))
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # SHA-256 of the raw public key, hex: which key signed (printed by `audit public-key`).
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


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
    # SHA-256 of the key's SubjectPublicKeyInfo, hex (broker.devices.keys).
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
