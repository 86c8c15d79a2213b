"""Alerts, their delivery outbox, and each organization's alert settings
(``broker.alerts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime


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
