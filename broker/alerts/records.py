"""Alerts: what a clinic owner must be told at once, written with the action that caused it.

``raise_alert`` adds the alert and one delivery per configured channel (mail, webhook) to the
caller's transaction. Nothing touches the network in the request: once the caller commits,
the delivery worker (``alert_delivery``) drains the outbox, retrying with backoff, across
restarts. If the caller's transaction rolls back, no alert is sent for an action that did
not happen.

The 半田病院 incident (MHLW.md) is why this exists: the warning signs were in logs nobody
read. An alert therefore carries plain facts (who, which PC, when, how many times) that
``alert_text`` turns into plain words, never log lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.alerts import settings as alert_settings
from broker.db.models import Alert, AlertDelivery


class Kind(StrEnum):
    """What happened. The rules for the last three are wired where their events happen."""

    LOCKOUT = "lockout"
    MFA_FAILURES = "mfa_failures"
    POLICY_VIOLATION = "policy_violation"
    OUTSIDE_HOURS = "outside_hours"
    AGENT_OFFLINE = "agent_offline"
    DEVICE_PENDING = "device_pending"
    AGENT_ENROLLED = "agent_enrolled"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    AGENT_OUTDATED = "agent_outdated"
    FACTORS_CHANGED = "factors_changed"
    TEST = "test"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# Critical: someone may hold a password already (the second factor failing after a right
# password) or tried to move data past the pixel-only policy.
SEVERITY: Final[dict[Kind, Severity]] = {
    Kind.LOCKOUT: Severity.WARNING,
    Kind.MFA_FAILURES: Severity.CRITICAL,
    Kind.POLICY_VIOLATION: Severity.CRITICAL,
    Kind.OUTSIDE_HOURS: Severity.WARNING,
    Kind.AGENT_OFFLINE: Severity.WARNING,
    Kind.DEVICE_PENDING: Severity.INFO,
    Kind.AGENT_ENROLLED: Severity.INFO,
    Kind.CERTIFICATE_EXPIRING: Severity.WARNING,
    # An unpatched agent on a clinic PC is the kind of gap ransomware walks through.
    Kind.AGENT_OUTDATED: Severity.WARNING,
    # A stolen session taking over the account's factors looks exactly like this.
    Kind.FACTORS_CHANGED: Severity.WARNING,
    Kind.TEST: Severity.INFO,
}


class Channel(StrEnum):
    MAIL = "mail"
    WEBHOOK = "webhook"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


# At most this many alerts of one kind an hour go out by mail and webhook per clinic; the
# rest are kept in the console, marked ``muted``. Source-address lockouts cost an attacker
# one address each: without a cap, a botnet could bury the director's mailbox (and the real
# alert). The cap is per kind so that a flood of one kind (31 refused offers) can never mute
# another (the director's lockout): a kind only ever mutes itself, and the kinds are few, so
# the mailbox stays bounded (kinds x cap an hour).
MAX_NOTIFIED_PER_HOUR: Final = 30

Fact = str | int | bool | None
MAX_FACTS: Final = 24
MAX_FACT_CHARS: Final = 200
_FACT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What must not reach a mail header, a log line or an encoder: C0 and C1 controls, Unicode's
# own line breaks (NEL, LINE/PARAGRAPH SEPARATOR: the email package refuses them in a header)
# and lone surrogates (JSON can carry "\\ud800"; UTF-8 cannot encode it).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def plain_line(value: str) -> str:
    """``value`` with every character that could break a header, a line or UTF-8 replaced."""
    return _CONTROL.sub(" ", value)


def clean_facts(facts: dict[str, object]) -> dict[str, Fact]:
    """Facts as stored: plain scalars, bounded; times as ISO 8601 UTC.

    Facts come from code, but their values often come from people (a user name as typed, a
    host name an agent announced); control characters are replaced so no value can break a
    mail header or a log line.

    Raises:
        ValueError: a fact name that is not a short identifier, a value of another type, or
            more than ``MAX_FACTS`` facts (a programming error, not input).
    """
    if len(facts) > MAX_FACTS:
        raise ValueError("too many alert facts")
    cleaned: dict[str, Fact] = {}
    for name, value in facts.items():
        if not _FACT_NAME.match(name):
            raise ValueError(f"bad alert fact name {name!r}")
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("alert times must be timezone-aware")
            cleaned[name] = value.astimezone(UTC).isoformat()
        elif isinstance(value, str):
            cleaned[name] = plain_line(value)[:MAX_FACT_CHARS]
        elif value is None or isinstance(value, bool | int):
            cleaned[name] = value
        else:
            raise ValueError(f"alert fact {name!r} must be text, a number or a time")
    return cleaned


async def raise_alert(
    session: AsyncSession,
    org_id: int,
    kind: Kind,
    now: datetime,
    *,
    subject: str = "",
    **facts: object,
) -> Alert:
    """Add an alert and its deliveries to ``session``'s transaction (the caller commits).

    Args:
        org_id: the clinic told.
        kind: what happened; the severity follows from it.
        now: when (the broker's clock).
        subject: what it is about (a user name, a host id), for recognizing repeats.
        facts: the particulars, as plain values (see ``alert_text`` for each kind's).
    """
    cleaned = clean_facts(facts)
    channels = await alert_settings.channels(session, org_id)
    if channels and await notified_since(session, org_id, now - timedelta(hours=1), kind) >= (
        MAX_NOTIFIED_PER_HOUR
    ):
        channels, cleaned["muted"] = [], True
    alert = Alert(
        org_id=org_id,
        kind=kind.value,
        severity=SEVERITY[kind].value,
        subject=plain_line(subject)[:100],
        facts=cleaned,
        created_at=now,
    )
    session.add(alert)
    await session.flush()
    for channel, target in channels:
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                org_id=org_id,
                channel=channel,
                target=target[:1000],
                state=DeliveryState.PENDING.value,
                attempts=0,
                next_attempt_at=now,
            )
        )
    return alert


async def notified_since(session: AsyncSession, org_id: int, since: datetime, kind: Kind) -> int:
    """How many of the organization's alerts of ``kind`` since ``since`` went out by mail or
    webhook."""
    count = await session.scalar(
        select(func.count(func.distinct(AlertDelivery.alert_id)))
        .join(Alert, Alert.id == AlertDelivery.alert_id)
        .where(AlertDelivery.org_id == org_id, Alert.created_at > since, Alert.kind == kind.value)
    )
    return int(count or 0)


async def recent(session: AsyncSession, org_id: int, limit: int = 100) -> list[Alert]:
    """The organization's newest alerts first."""
    rows = await session.scalars(
        select(Alert)
        .where(Alert.org_id == org_id)
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    return list(rows)


async def unacknowledged(session: AsyncSession, org_id: int) -> int:
    """How many of the organization's alerts nobody has acknowledged yet (the badge)."""
    count = await session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(Alert.org_id == org_id, Alert.acknowledged_at.is_(None))
    )
    return int(count or 0)


async def in_org(session: AsyncSession, org_id: int, alert_id: int) -> Alert | None:
    """The alert if it belongs to ``org_id`` (another clinic's alert is None, like none)."""
    return await session.scalar(select(Alert).where(Alert.id == alert_id, Alert.org_id == org_id))


async def acknowledge(session: AsyncSession, alert: Alert, user_id: int, now: datetime) -> bool:
    """Mark ``alert`` seen by ``user_id``; False if someone acknowledged it already."""
    result = await session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=user_id)
    )
    await session.refresh(alert)
    return bool(getattr(result, "rowcount", 0))


async def acknowledge_all(
    session: AsyncSession, org_id: int, up_to_id: int, user_id: int, now: datetime
) -> int:
    """Mark every alert of ``org_id`` nobody acknowledged yet, up to ``up_to_id`` (the newest
    the admin was shown: one raised since is not acknowledged unseen); how many."""
    result = await session.execute(
        update(Alert)
        .where(Alert.org_id == org_id, Alert.id <= up_to_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=user_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def deliveries_of(
    session: AsyncSession, alert_ids: Iterable[int]
) -> dict[int, list[AlertDelivery]]:
    """Each alert's deliveries, by alert id (one query for a page of alerts)."""
    ids = list(alert_ids)
    found: dict[int, list[AlertDelivery]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = await session.scalars(
        select(AlertDelivery)
        .where(AlertDelivery.alert_id.in_(ids))
        .order_by(AlertDelivery.alert_id, AlertDelivery.id)
    )
    for delivery in rows:
        found[delivery.alert_id].append(delivery)
    return found


async def raised_since(
    session: AsyncSession, org_id: int, kind: Kind, subject: str, since: datetime
) -> bool:
    """Whether an alert of ``kind`` about ``subject`` was raised after ``since`` (so a
    condition that lasts is told once, not at every check)."""
    found = await session.scalar(
        select(Alert.id)
        .where(
            Alert.org_id == org_id,
            Alert.kind == kind.value,
            Alert.subject == subject[:100],
            Alert.created_at > since,
        )
        .limit(1)
    )
    return found is not None
