"""Who may open what, when: grants and their weekly windows, vendor requests, viewer
tickets, and the clinic's own session policy (``broker.access``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.db.models.base import Base, BigId, UtcDateTime

GRANT_ACCESS: Final = ("view", "control")
VENDOR_REQUEST_STATES: Final = ("pending", "approved", "denied", "used")


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


class OpeningWindowRow(Base):
    """One weekly window of a clinic's opening hours (診療時間), local time like
    ``GrantWindow`` (bit 0 of ``days`` = Monday, minutes from local midnight) but within one
    day: start before end, an end of 1440 is 24:00 (broker/access/opening_hours.py)."""

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("days BETWEEN 1 AND 127", "days"),
        CheckConstraint("start_minute BETWEEN 0 AND 1439", "start_minute"),
        CheckConstraint("end_minute BETWEEN 1 AND 1440", "end_minute"),
        CheckConstraint("start_minute < end_minute", "not_empty"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
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


class OrgPolicy(Base):
    """An organization's own limits for remote sessions; without a row the broker's defaults
    (MAMORI_REMOTE_*) apply. Set on the console's settings page (MHLW.md rows 3, 8)."""

    __tablename__ = "org_policies"
    __table_args__ = (
        CheckConstraint("privacy_screen IN ('off', 'outside_hours', 'always')", "privacy_screen"),
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    idle_s: Mapped[int] = mapped_column(Integer)
    max_s: Mapped[int] = mapped_column(Integer)
    warn_s: Mapped[int] = mapped_column(Integer)
    watermark: Mapped[bool] = mapped_column(Boolean)
    # A broker.access.privacy_screen.PrivacyScreen value: off, outside_hours or always.
    privacy_screen: Mapped[str] = mapped_column(String(16))
    end_on_violation: Mapped[bool] = mapped_column(Boolean)
    # A mamori_protocol.text_input.TextEntry value.
    text_entry: Mapped[str] = mapped_column(String(16), default="host_ime")
    # "all" or "relay" (broker/access/remote_policy.py checks the value).
    ice_policy: Mapped[str] = mapped_column(String(8), default="all", server_default="all")
    lan_candidates: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SourceNetwork(Base):
    """One network (CIDR) of an organization's allow-list of where sign-ins and remote
    sessions may come from, for one audience: ``everyone``, ``admin`` or ``vendor``. An
    audience without rows is not restricted (broker/access/source_networks.py; MHLW.md row 17)."""

    __tablename__ = "source_networks"
    __table_args__ = (
        CheckConstraint("audience IN ('everyone', 'admin', 'vendor')", "audience"),
        UniqueConstraint("org_id", "audience", "network"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    audience: Mapped[str] = mapped_column(String(16))
    # The canonical form (ipaddress.ip_network(...).compressed): at most 43 characters.
    network: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
