"""The audit trail: hash-chained records, each chain's head, signed checkpoints
(``broker.audit``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime


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
