"""Alerts nobody's request raises: conditions found by looking, every ``alert_check_s``.

``PeriodicChecks`` runs named checks, each in its own transaction, so one failing check
never stops the others. A check is ``async (session, now) -> None`` that calls
``raise_alert`` for what it finds and must not tell the same condition twice (see
``alerts.raised_since``). The agent-offline check is the first; a certificate-expiry check
joins with ``checks.add("certificate_expiring", check)``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.alerts import rules as alert_rules
from broker.alerts import settings as alert_settings
from broker.alerts.records import Kind, raise_alert, raised_since
from broker.clock import Clock
from broker.db.engine import Database
from broker.db.models import AgentCertificate, Host

log = logging.getLogger(__name__)

Check = Callable[[AsyncSession, datetime], Awaitable[None]]

# The shortest offline time an organization may choose (the API enforces it); hosts seen
# more recently than this are not even looked at.
MIN_OFFLINE_MINUTES = 5


class OnlineHosts(Protocol):
    """Who is connected now (the relay)."""

    def online_hosts(self) -> set[tuple[int, str]]: ...


class PeriodicChecks:
    """Named checks run together, one transaction each."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        if name in self._checks:
            raise ValueError(f"alert check {name!r} is registered already")
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def run_once(self) -> None:
        for name, check in self._checks.items():
            try:
                async with self._db.session() as s:
                    await check(s, self._clock.now())
                    await s.commit()
            except Exception:
                log.exception("alert check %s failed", name)


def agent_offline(online: OnlineHosts, watching_since: Callable[[], datetime]) -> Check:
    """Alert once per outage when a host's agent has been away longer than its clinic's
    ``agent_offline_minutes``.

    Hosts connected now get ``last_seen_at`` refreshed (their hello set it at connect time
    only), so an outage is measured from when the agent was last connected. It is also
    measured from when this broker started watching: after a restart, agents get the full
    time to reconnect before anyone is told.
    """

    async def check(session: AsyncSession, now: datetime) -> None:
        connected = online.online_hosts()
        by_org: dict[int, list[str]] = defaultdict(list)
        for org_id, host_id in connected:
            by_org[org_id].append(host_id)
        for org_id, host_ids in by_org.items():
            await session.execute(
                update(Host)
                .where(Host.org_id == org_id, Host.host_id.in_(host_ids))
                .values(last_seen_at=now)
            )
        quiet_since = now - timedelta(minutes=MIN_OFFLINE_MINUTES)
        hosts = await session.scalars(
            select(Host).where(Host.last_seen_at < quiet_since).order_by(Host.org_id, Host.id)
        )
        configs: dict[int, alert_settings.AlertConfig] = {}
        started = watching_since()
        for host in list(hosts):
            if (host.org_id, host.host_id) in connected:
                continue
            if host.org_id not in configs:
                configs[host.org_id] = await alert_settings.load(session, host.org_id)
            minutes = configs[host.org_id].agent_offline_minutes
            if minutes is None:
                continue
            away_since = max(host.last_seen_at, started)
            if now - away_since < timedelta(minutes=minutes):
                continue
            if await raised_since(
                session, host.org_id, Kind.AGENT_OFFLINE, host.host_id, host.last_seen_at
            ):
                continue
            await raise_alert(
                session,
                host.org_id,
                Kind.AGENT_OFFLINE,
                now,
                subject=host.host_id,
                host=host.name,
                host_id=host.host_id,
                last_seen_at=host.last_seen_at,
                minutes=minutes,
            )

    return check


# Agents renew when a third of the lifetime is left (30 days of the default 90); a
# certificate this close to its end means renewal has been failing: tell the clinic while
# there is time to re-enroll the PC.
CERTIFICATE_WARNING: Final = timedelta(days=14)


def certificate_expiring() -> Check:
    """Alert once per certificate when a host's newest live certificate ends within
    ``CERTIFICATE_WARNING`` (a renewed, revoked or replaced one does not count)."""

    async def check(session: AsyncSession, now: datetime) -> None:
        live = await session.scalars(
            select(AgentCertificate)
            .where(
                AgentCertificate.revoked_at.is_(None),
                AgentCertificate.renewed_at.is_(None),
                AgentCertificate.not_after > now,
                AgentCertificate.not_after <= now + CERTIFICATE_WARNING,
            )
            .order_by(AgentCertificate.org_id, AgentCertificate.id)
        )
        for cert in list(live):
            newer = await session.scalar(
                select(AgentCertificate.id).where(
                    AgentCertificate.org_id == cert.org_id,
                    AgentCertificate.host_id == cert.host_id,
                    AgentCertificate.id > cert.id,
                    AgentCertificate.revoked_at.is_(None),
                )
            )
            if newer is not None:
                continue
            if await raised_since(
                session, cert.org_id, Kind.CERTIFICATE_EXPIRING, cert.host_id, cert.issued_at
            ):
                continue
            host = await session.scalar(
                select(Host.name).where(Host.org_id == cert.org_id, Host.host_id == cert.host_id)
            )
            await alert_rules.certificate_expiring(
                session,
                cert.org_id,
                now,
                host=host or cert.host_id,
                host_id=cert.host_id,
                expires_at=cert.not_after,
            )

    return check
