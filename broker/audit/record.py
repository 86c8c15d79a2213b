"""The audit trail: every security event is written here and only here.

Rows go to ``audit_events``, which the database itself keeps append-only (triggers refuse
UPDATE, and DELETE unless a signed purge anchor covers the row). Each row is hash-chained
to the one before it in its organization's chain as the caller's transaction flushes
(``broker/audit/ledger.py``), so ``record`` stays a plain ``session.add`` and the
link commits with the action it records. Each event names who (user id and the name as
typed or known), the organization, when (UTC), the source address and the outcome
(MHLW.md row 11). Passwords, codes and tokens never reach ``detail``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

# Imported for its before_flush hook: every session that can record() links what it records.
from broker.audit import ledger as audit_ledger  # noqa: F401
from broker.db.models import AuditEvent


class Event(StrEnum):
    LOGIN_PASSWORD = "login_password"  # noqa: S105  (event names, not secrets)
    LOGIN_MFA = "login_mfa"
    STEP_UP = "step_up"  # the second factor shown again before a factor or password change
    LOCKOUT = "lockout"
    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere"
    SESSION_REVOKED = "session_revoked"
    ENROLLMENT_STARTED = "enrollment_started"
    MFA_ENROLLED = "mfa_enrolled"
    MFA_REMOVED = "mfa_removed"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_ISSUED = "recovery_codes_issued"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    INVITE = "invite"
    ROLE_CHANGE = "role_change"
    DISABLE = "disable"
    ENABLE = "enable"
    FACTORS_RESET = "factors_reset"
    AGENT_REFUSED = "agent_refused"
    ENROLLMENT_CODE_CREATED = "enrollment_code_created"
    ENROLLMENT_REFUSED = "enrollment_refused"
    HOST_ENROLLED = "host_enrolled"
    CERT_ISSUED = "cert_issued"
    CERT_RENEWED = "cert_renewed"
    CERT_REVOKED = "cert_revoked"
    VIEWER_TICKET = "viewer_ticket"
    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    # A live session re-adopted after the broker restarted (broker/signaling/adoption.py).
    SESSION_RESUMED = "session_resumed"
    SESSION_TERMINATED = "session_terminated"  # an admin ended someone's session
    POLICY_VIOLATION = "policy_violation"
    CLIENT_BLOCKED = "client_blocked"
    SETTINGS_CHANGED = "settings_changed"
    REPORT_REVIEWED = "report_reviewed"
    REPORT_EXPORTED = "report_exported"
    ALERT_SETTINGS_CHANGED = "alert_settings_changed"
    ALERT_WEBHOOK_SECRET_ROTATED = "alert_webhook_secret_rotated"  # noqa: S105
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_TEST = "alert_test"
    ALERT_DELIVERY_FAILED = "alert_delivery_failed"
    # Grants, windows and vendor approvals (issue 4: trust).
    SESSION_REFUSED = "session_refused"
    # A sign-in or a ticket from outside the clinic's allowed source networks (MHLW.md row 17).
    SOURCE_REFUSED = "source_refused"
    GRANT_CREATED = "grant_created"
    GRANT_CHANGED = "grant_changed"
    GRANT_DELETED = "grant_deleted"
    TIME_ZONE_CHANGED = "time_zone_changed"
    VENDOR_REQUESTED = "vendor_requested"
    VENDOR_APPROVED = "vendor_approved"
    VENDOR_DENIED = "vendor_denied"
    VENDOR_APPROVAL_USED = "vendor_approval_used"
    ACCESS_DENIED = "access_denied"
    VIEWER_REFUSED = "viewer_refused"
    AUDIT_EXPORTED = "audit_exported"
    AUDIT_PURGED = "audit_purged"
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"
    DEVICE_REGISTERED = "device_registered"
    DEVICE_APPROVED = "device_approved"
    DEVICE_DENIED = "device_denied"
    DEVICE_REVOKED = "device_revoked"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


@dataclass(frozen=True)
class Actor:
    """Who acts, from where. ``name`` is the account name (as typed, for failed logins)."""

    source_address: str
    user_id: int | None = None
    org_id: int | None = None
    name: str = ""


def record(
    session: AsyncSession,
    actor: Actor,
    event: Event,
    outcome: Outcome,
    now: datetime,
    *,
    target_user_id: int | None = None,
    org_id: int | None = None,
    detail: str = "",
) -> None:
    """Add one event to ``session``'s transaction (the caller commits); it is chained when
    the transaction flushes it (``audit_ledger``)."""
    session.add(
        AuditEvent(
            at=now,
            org_id=org_id if org_id is not None else actor.org_id,
            actor_user_id=actor.user_id,
            actor=actor.name[:64],
            event=event.value,
            outcome=outcome.value,
            source_address=actor.source_address[:64],
            target_user_id=target_user_id,
            detail=detail[:500],
        )
    )


async def recent(session: AsyncSession, org_id: int, limit: int = 100) -> list[AuditEvent]:
    """The organization's newest events first."""
    rows = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.org_id == org_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(rows)
