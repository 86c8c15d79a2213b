"""Clinic PCs and their trust: the per-organization CA, one-time enrollment codes, the
client certificates it issued, and the hosts (``broker.agents``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime


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
    # What its agent said in its last hello (None: never connected since it was recorded);
    # agent_hello limits versions to 32 characters.
    agent_version: Mapped[str | None] = mapped_column(String(32), default=None)
    # The last agent version an "older than the broker" alert was raised for, so each
    # host raises it once per version and not on every reconnect.
    outdated_alerted_version: Mapped[str | None] = mapped_column(String(32), default=None)
