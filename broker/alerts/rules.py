"""When an event becomes an alert. Each rule is called where its event happens, inside that
request's transaction, and only decides and calls ``raise_alert`` (no I/O of its own).

Rules here: a lockout; repeated second-factor failures after a right password (N within a
window: someone may hold the password, the 半田病院 pattern of leaked credentials); a
pixel-only policy violation; a sign-in outside the clinic's usual hours. The agent-offline
rule looks rather than listens (``alert_checks``). The trust work calls ``device_pending``,
``agent_enrolled`` and ``certificate_expiring`` where devices and certificates are handled;
the agent endpoint calls ``agent_outdated`` when an agent older than the broker connects.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access.zones import org_time_zone
from broker.agents import hosts as agents
from broker.agents.versions import is_outdated
from broker.alerts import settings as alert_settings
from broker.alerts.records import Kind, raise_alert
from broker.audit.record import Event, Outcome
from broker.db.models import AuditEvent, Host, User


def who(user: User) -> dict[str, str]:
    """The facts naming a person: the name the clinic knows, and the account."""
    return {"user": user.display_name or user.username, "username": user.username}


async def lockout(
    session: AsyncSession, user: User, now: datetime, *, source: str, minutes: int, scopes: str
) -> None:
    """An account (or the address it signs in from) was locked after repeated failures.

    Names that belong to no account lock too, but tell no clinic anything: there is no
    clinic to tell, and the audit trail has them.
    """
    await raise_alert(
        session,
        user.org_id,
        Kind.LOCKOUT,
        now,
        subject=user.username,
        **who(user),
        source=source,
        minutes=minutes,
        scopes=scopes,
    )


async def factors_changed(
    session: AsyncSession, user: User, now: datetime, *, source: str, change: str
) -> None:
    """A factor or the password of an account changed (``text.CHANGES`` names which): the
    clinic hears of it, since a stolen session taking over the factors looks like this."""
    await raise_alert(
        session,
        user.org_id,
        Kind.FACTORS_CHANGED,
        now,
        subject=user.username,
        **who(user),
        source=source,
        change=change,
    )


async def second_factor_failed(
    session: AsyncSession,
    user: User,
    now: datetime,
    *,
    source: str,
    threshold: int,
    window_s: int,
) -> None:
    """Call after auditing a failed second factor: the ``threshold``-th failure within
    ``window_s`` raises one alert (later ones in the same window add nothing).

    The count is of audited failures, so it is the same on every broker replica and across
    restarts.
    """
    since = now - timedelta(seconds=window_s)
    count = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.actor_user_id == user.id,
            AuditEvent.event == Event.LOGIN_MFA.value,
            AuditEvent.outcome == Outcome.FAILURE.value,
            AuditEvent.at > since,
        )
    )
    if (count or 0) != threshold:
        return
    await raise_alert(
        session,
        user.org_id,
        Kind.MFA_FAILURES,
        now,
        subject=user.username,
        **who(user),
        source=source,
        count=threshold,
        window_minutes=max(1, window_s // 60),
    )


async def signed_in(session: AsyncSession, user: User, now: datetime, *, source: str) -> None:
    """A complete sign-in (both factors) outside the clinic's usual hours.

    Usual hours are one clinic-wide setting in the clinic's time zone; per-person windows
    belong to grants. Hours may cross midnight.
    """
    config = await alert_settings.load(session, user.org_id)
    if config.usual_hours is None:
        return
    zone = await org_time_zone(session, user.org_id)
    local = now.astimezone(ZoneInfo(zone))
    if alert_settings.within(config.usual_hours, local.hour * 60 + local.minute):
        return
    start, end = config.usual_hours
    await raise_alert(
        session,
        user.org_id,
        Kind.OUTSIDE_HOURS,
        now,
        subject=user.username,
        **who(user),
        source=source,
        at=now,
        usual_start=alert_settings.minutes_to_text(start),
        usual_end=alert_settings.minutes_to_text(end),
    )


async def policy_violation(
    session: AsyncSession,
    org_id: int,
    now: datetime,
    *,
    user: str,
    username: str,
    host: str,
    host_id: str,
    violation: str,
) -> None:
    """Someone tried to move something other than pixels and input (refused already)."""
    await raise_alert(
        session,
        org_id,
        Kind.POLICY_VIOLATION,
        now,
        subject=host_id,
        user=user,
        username=username,
        host=host,
        host_id=host_id,
        violation=violation,
    )


# ---- wired by the trust work: one call where the event happens -----------------------------


async def device_pending(session: AsyncSession, user: User, now: datetime, *, device: str) -> None:
    """A viewing device was registered and waits for an admin's approval."""
    await raise_alert(
        session,
        user.org_id,
        Kind.DEVICE_PENDING,
        now,
        subject=user.username,
        **who(user),
        device=device,
    )


async def agent_enrolled(
    session: AsyncSession, org_id: int, now: datetime, *, host: str, host_id: str
) -> None:
    """A host agent was enrolled (a client certificate issued for a new host)."""
    await raise_alert(
        session, org_id, Kind.AGENT_ENROLLED, now, subject=host_id, host=host, host_id=host_id
    )


async def certificate_expiring(
    session: AsyncSession,
    org_id: int,
    now: datetime,
    *,
    host: str,
    host_id: str,
    expires_at: datetime,
) -> None:
    """A host's certificate is near expiry (a periodic check finds it; see alert_checks)."""
    await raise_alert(
        session,
        org_id,
        Kind.CERTIFICATE_EXPIRING,
        now,
        subject=host_id,
        host=host,
        host_id=host_id,
        expires_at=expires_at,
    )


async def agent_connected(
    session: AsyncSession, host: Host, now: datetime, *, broker_version: str
) -> None:
    """A host's agent connected: if its version is older than the broker's (or unknown),
    raise one alert per host and version (MHLW.md row 18). Reconnects of the same version
    add nothing; an update that is still older alerts again. Call inside the transaction
    that records the hello."""
    version = host.agent_version or ""
    if not is_outdated(version, broker_version):
        # Up to date again: a later downgrade to an alerted version is news once more.
        host.outdated_alerted_version = None
        return
    if not await agents.claim_outdated_alert(session, host, version):
        return
    await raise_alert(
        session,
        host.org_id,
        Kind.AGENT_OUTDATED,
        now,
        subject=host.host_id,
        host=host.name,
        host_id=host.host_id,
        version=version or "?",
        broker_version=broker_version,
    )
