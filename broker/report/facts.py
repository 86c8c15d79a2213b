"""The figures the compliance report rests on, read from the database when it is built:
accounts and their factors, audit counts, grants, devices, clinic PCs, the audit chain
verified now, the last review, agents older than the broker, and the allow-lists of source
networks. Nothing is typed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import grants, source_networks
from broker.access.remote_policy import RemotePolicy
from broker.agents.versions import is_outdated
from broker.audit.chain import chain_of
from broker.audit.record import Event
from broker.audit.verify import ChainReport, verify_chain_of
from broker.db.models import (
    AgentCertificate,
    AuditEvent,
    Host,
    Organization,
    ReportReview,
    User,
    ViewingDevice,
)
from broker.identity import mfa

# How far back "recent" counts reach, and when an account counts as dormant.
RECENT_DAYS: Final = 30
DORMANT_DAYS: Final = 90


@dataclass(frozen=True)
class Review:
    reviewed_by: str
    reviewed_at: datetime
    note: str


@dataclass(frozen=True)
class Facts:
    """What the rows are computed from, gathered once."""

    users: int  # enabled accounts
    two_kinds: int  # enabled accounts with a password (記憶) and TOTP or a passkey (所持/生体)
    no_password: int  # enabled accounts still waiting for their first password
    admins: list[str]  # enabled admins' user names
    admins_two_kinds: int
    vendors: int
    disabled: int
    dormant: list[str]  # enabled, enrolled, no completed sign-in for DORMANT_DAYS
    lockouts_recent: int
    violations_recent: int
    sessions_recent: int
    grants: int  # grants in force
    grants_windowed: int  # of which limited to weekly windows
    vendor_sessions_recent: int  # vendor sessions started (each on an approval)
    vendor_approvals_recent: int
    chain: ChainReport  # the clinic's audit chain, verified now
    last_review_at: datetime | None
    devices: dict[str, int]  # viewing devices by state
    devices_unused: int  # approved devices not used for DORMANT_DAYS
    hosts: int  # enrolled clinic PCs
    hosts_certified: int  # of which hold a live (unrevoked, unexpired) client certificate
    policy: RemotePolicy
    checked_at: datetime
    broker_version: str = ""
    # (PC name, its agent's last version or None) for every agent older than the broker or
    # of unknown version, by name.
    agents_outdated: list[tuple[str, str | None]] = field(default_factory=list)
    # The allow-lists of source networks in force (access/source_networks.py), by audience.
    source_networks: dict[str, list[str]] = field(default_factory=dict)


async def gather(
    session: AsyncSession,
    org_id: int,
    policy: RemotePolicy,
    now: datetime,
    audit_key: Ed25519PublicKey,
    broker_version: str,
) -> Facts:
    """Read the organization's figures from the database (and verify its audit chain);
    agents are compared with ``broker_version``."""
    users = list(await session.scalars(select(User).where(User.org_id == org_id).order_by(User.id)))
    enabled = [u for u in users if u.disabled_at is None]
    since_recent = now - timedelta(days=RECENT_DAYS)
    since_dormant = now - timedelta(days=DORMANT_DAYS)

    async def count(event: Event, since: datetime) -> int:
        found = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.org_id == org_id, AuditEvent.event == event.value)
            .where(AuditEvent.at >= since)
        )
        return int(found or 0)

    signed_in = set(
        await session.scalars(
            select(AuditEvent.actor_user_id).where(
                AuditEvent.org_id == org_id,
                AuditEvent.event == Event.LOGIN_MFA.value,
                AuditEvent.outcome == "success",
                AuditEvent.at >= since_dormant,
            )
        )
    )
    two_kinds, admins_two_kinds, dormant = 0, 0, []
    for user in enabled:
        held = await mfa.factors(session, user.id)
        # Recovery codes are a fallback, not a factor kind of their own (any_second_factor
        # counts TOTP and passkeys only).
        if user.password_hash is None or not held.any_second_factor:
            continue
        two_kinds += 1
        if user.role == "admin":
            admins_two_kinds += 1
        if user.id not in signed_in and user.created_at < since_dormant:
            dormant.append(user.username)
    host_rows = list(
        await session.scalars(
            select(Host).where(Host.org_id == org_id).order_by(Host.name, Host.host_id)
        )
    )
    outdated = [
        (h.name, h.agent_version) for h in host_rows if is_outdated(h.agent_version, broker_version)
    ]
    certified = int(
        await session.scalar(
            select(func.count(func.distinct(AgentCertificate.host_id))).where(
                AgentCertificate.org_id == org_id,
                AgentCertificate.revoked_at.is_(None),
                AgentCertificate.not_after > now,
            )
        )
        or 0
    )
    in_force = await grants.active_grants(session, org_id)
    windows = await grants.windows_of(session, [g.id for g in in_force])
    vendor_ids = [u.id for u in users if u.role == "vendor"]
    vendor_sessions = int(
        await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.org_id == org_id,
                AuditEvent.event == Event.SESSION_STARTED.value,
                AuditEvent.actor_user_id.in_(vendor_ids),
                AuditEvent.at >= since_recent,
            )
        )
        or 0
    )
    last_review = await session.scalar(
        select(func.max(ReportReview.reviewed_at)).where(ReportReview.org_id == org_id)
    )
    device_states = dict.fromkeys(("pending", "approved", "denied", "revoked"), 0)
    for state, number in await session.execute(
        select(ViewingDevice.state, func.count())
        .where(ViewingDevice.org_id == org_id)
        .group_by(ViewingDevice.state)
    ):
        device_states[state] = int(number)
    unused = int(
        await session.scalar(
            select(func.count())
            .select_from(ViewingDevice)
            .where(
                ViewingDevice.org_id == org_id,
                ViewingDevice.state == "approved",
                func.coalesce(ViewingDevice.last_used_at, ViewingDevice.created_at) < since_dormant,
            )
        )
        or 0
    )
    return Facts(
        devices=device_states,
        devices_unused=unused,
        grants=len(in_force),
        grants_windowed=sum(1 for g in in_force if windows.get(g.id)),
        vendor_sessions_recent=vendor_sessions,
        vendor_approvals_recent=await count(Event.VENDOR_APPROVED, since_recent),
        chain=await verify_chain_of(session, chain_of(org_id), audit_key),
        last_review_at=last_review,
        hosts=len(host_rows),
        broker_version=broker_version,
        agents_outdated=outdated,
        source_networks=await source_networks.lists_of(session, org_id),
        hosts_certified=certified,
        checked_at=now,
        users=len(enabled),
        two_kinds=two_kinds,
        no_password=sum(1 for u in enabled if u.password_hash is None),
        admins=[u.username for u in enabled if u.role == "admin"],
        admins_two_kinds=admins_two_kinds,
        vendors=sum(1 for u in enabled if u.role == "vendor"),
        disabled=len(users) - len(enabled),
        dormant=dormant,
        lockouts_recent=await count(Event.LOCKOUT, since_recent),
        violations_recent=await count(Event.POLICY_VIOLATION, since_recent),
        sessions_recent=await count(Event.SESSION_STARTED, since_recent),
        policy=policy,
    )


async def organization_name(session: AsyncSession, org_id: int) -> str:
    """The clinic's name as the report heads it ("" if the row is gone)."""
    org = await session.get(Organization, org_id)
    return org.name if org else ""


async def last_review(session: AsyncSession, org_id: int) -> Review | None:
    """The newest review mark: who (by user name), when, and the note."""
    review = await session.scalar(
        select(ReportReview)
        .where(ReportReview.org_id == org_id)
        .order_by(ReportReview.id.desc())
        .limit(1)
    )
    if review is None:
        return None
    reviewer = await session.get(User, review.reviewed_by)
    return Review(reviewer.username if reviewer else "?", review.reviewed_at, review.note)
