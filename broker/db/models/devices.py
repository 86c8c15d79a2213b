"""Viewing devices: the browser keys an admin approved, and the challenges that open a
viewer (``broker.devices``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime

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
