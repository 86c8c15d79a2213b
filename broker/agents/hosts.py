"""Hosts: the clinic PCs of an organization, recorded as they enroll and as their agents
connect (name, first and last seen, the agent's version). Who an agent is comes from its
client certificate (``broker.agents.ca``), never from anything it says.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broker.db.models import Host


async def register_host(
    session: AsyncSession,
    org_id: int,
    host_id: str,
    name: str,
    now: datetime,
    *,
    from_hello: bool = False,
) -> Host:
    """Record (or refresh) a host of ``org_id`` as it enrolls or its agent says hello.

    The name people see is the admin's, given with the enrollment code: an agent's hello
    never renames a known host, and a new one cannot take a name another host of the
    clinic already has (issue 12: a PC posing as 受付 in the host list) — it is shown
    with its host id instead.
    """
    host = await find_host(session, org_id, host_id)
    if host is not None and from_hello:
        host.last_seen_at = now
        await session.flush()
        return host
    taken = await session.scalar(
        select(Host.id).where(Host.org_id == org_id, Host.name == name, Host.host_id != host_id)
    )
    if taken is not None:
        name = f"{name} ({host_id})"[:100]
    if host is None:
        host = Host(org_id=org_id, host_id=host_id, name=name, first_seen_at=now, last_seen_at=now)
        session.add(host)
    else:
        host.name = name
        host.last_seen_at = now
    await session.flush()
    return host


async def agent_connected(
    session: AsyncSession, org_id: int, host_id: str, name: str, version: str, now: datetime
) -> Host:
    """A host's agent said hello: refresh the host and keep the version it announced (the
    console and the report compare it with the broker's)."""
    host = await register_host(session, org_id, host_id, name, now, from_hello=True)
    hello_of_known(host, version, now)
    await session.flush()
    return host


def hello_of_known(host: Host, version: str, now: datetime) -> None:
    """What an agent's hello changes on a host already recorded (its name is the clinic's)."""
    host.last_seen_at = now
    host.agent_version = version


async def known_hosts(
    session: AsyncSession, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], Host]:
    """The recorded hosts among ``keys`` (organization id, host id), in one query: a
    reconnecting fleet's registrations are written in batches (issue 18)."""
    if not keys:
        return {}
    orgs = {org_id for org_id, _ in keys}
    ids = {host_id for _, host_id in keys}
    rows = await session.scalars(select(Host).where(Host.org_id.in_(orgs), Host.host_id.in_(ids)))
    wanted = set(keys)
    return {(h.org_id, h.host_id): h for h in rows if (h.org_id, h.host_id) in wanted}


async def claim_outdated_alert(session: AsyncSession, host: Host, version: str) -> bool:
    """Mark ``version`` as alerted for ``host``; True only for the one caller that changed
    the mark.

    A single conditional UPDATE, so two links of the same host connecting at once (on one
    broker or on two replicas) cannot both win: each host alerts once per version.
    """
    result = await session.execute(
        update(Host)
        .where(
            Host.id == host.id,
            or_(
                Host.outdated_alerted_version.is_(None),
                Host.outdated_alerted_version != version,
            ),
        )
        .values(outdated_alerted_version=version)
        .execution_options(synchronize_session=False)
    )
    claimed = bool(getattr(result, "rowcount", 0) == 1)
    if claimed:
        host.outdated_alerted_version = version
    return claimed


async def find_host(session: AsyncSession, org_id: int, host_id: str) -> Host | None:
    return await session.scalar(select(Host).where(Host.org_id == org_id, Host.host_id == host_id))


async def hosts_of(session: AsyncSession, org_id: int) -> list[Host]:
    rows = await session.scalars(
        select(Host).where(Host.org_id == org_id).order_by(Host.name, Host.host_id)
    )
    return list(rows)


async def seen(session: AsyncSession, org_id: int, host_id: str, now: datetime) -> None:
    """The host's agent was connected until ``now`` (its link just closed)."""
    host = await find_host(session, org_id, host_id)
    if host is not None:
        host.last_seen_at = now
        await session.flush()
