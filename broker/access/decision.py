"""May this person open this host now, and how: grants, windows and vendor approvals together.

Checked where it is used, at each hop (DESIGN.md, fail closed): when a viewer ticket is
issued (HTTP 403 with the reason), again when the viewer's WebSocket joins the host (an
``error`` with the reason, then close 4403), and while the session runs (the window's end
closes it; a grant taken away ends it). Every refusal is audited as ``session_refused``
with the reason and the hop.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import grants, vendor_requests
from broker.access import zones as time_zones
from broker.access.grants import Decision, Refusal, Rule
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.models import Host, Organization, User, VendorRequest

log = logging.getLogger(__name__)


class Hop(StrEnum):
    """Where a session was refused (in the audit detail)."""

    TICKET = "ticket"
    JOIN = "join"


@dataclass(frozen=True)
class HostAccess:
    """The decision for one host, with the vendor's latest request for it (host list)."""

    decision: Decision
    host_ref: int | None
    request: VendorRequest | None = None
    approval: VendorRequest | None = None  # the approval a vendor session would spend


def _windows_usable(rules: list[Rule], zone: str) -> tuple[list[Rule], bool]:
    """Rules whose windows can be evaluated. A stored zone that does not load (only possible
    by editing the database) closes every windowed grant rather than guessing a zone."""
    if time_zones.is_zone(zone):
        return rules, False
    log.error("organization time zone %r is not a zone here; windowed grants are closed", zone)
    usable = [r for r in rules if not r.windows]
    return usable, len(usable) < len(rules)


def _decide(rules: list[Rule], zone: str, now: dt.datetime) -> Decision:
    usable, dropped = _windows_usable(rules, zone)
    if dropped and not usable:
        return Decision(Refusal.OUTSIDE_WINDOW)
    return grants.decide(usable, zone, now)


async def host_refs(session: AsyncSession, org_id: int, host_ids: Sequence[str]) -> dict[str, int]:
    """Row ids of the organization's registered hosts, by host id."""
    if not host_ids:
        return {}
    rows = await session.execute(
        select(Host.host_id, Host.id).where(Host.org_id == org_id, Host.host_id.in_(host_ids))
    )
    return {host_id: ref for host_id, ref in rows}


async def for_hosts(
    session: AsyncSession, user: User, org: Organization, host_ids: Sequence[str], now: dt.datetime
) -> dict[str, HostAccess]:
    """The decision for each of ``host_ids`` (one query per kind, for the host list)."""
    refs = await host_refs(session, org.id, host_ids)
    rules = await grants.rules_for(session, user, [refs.get(h) for h in host_ids])
    vendor = user.role == "vendor"
    latest = {}
    if vendor:
        latest = await vendor_requests.latest_by_host(session, user.id, list(refs.values()))
    found: dict[str, HostAccess] = {}
    for host_id in host_ids:
        ref = refs.get(host_id)
        decision = _decide(rules.get(ref, []), org.time_zone, now)
        request = latest.get(ref) if ref is not None else None
        approval = None
        if decision.allowed and vendor:
            if ref is not None:
                approval = await vendor_requests.approved(session, user.id, ref, now)
            if approval is None:
                decision = Decision(Refusal.VENDOR_NOT_APPROVED)
        found[host_id] = HostAccess(decision, ref, request, approval)
    return found


async def for_host(
    session: AsyncSession, user: User, org: Organization, host_id: str, now: dt.datetime
) -> HostAccess:
    """The decision for one host (ticket and join)."""
    return (await for_hosts(session, user, org, [host_id], now))[host_id]


async def grants_only(
    session: AsyncSession,
    user: User,
    org: Organization,
    host_id: str,
    now: dt.datetime,
    *,
    view_only: bool = False,
) -> Decision:
    """What the grants alone allow now: a running session is re-checked with this after a
    grant or the zone changed (its vendor approval was spent when it began). For a
    view-only session every open grant counts as view, so it runs until the last closes."""
    refs = await host_refs(session, org.id, [host_id])
    ref = refs.get(host_id)
    rules = (await grants.rules_for(session, user, [ref])).get(ref, [])
    if view_only:
        rules = [Rule(r.grant_id, grants.Access.VIEW, r.windows) for r in rules]
    return _decide(rules, org.time_zone, now)


def record_refusal(
    session: AsyncSession, actor: Actor, host_id: str, refusal: Refusal, hop: Hop, now: dt.datetime
) -> None:
    """Audit one refused session (MHLW.md row 11: refusals too, and why)."""
    record(
        session,
        actor,
        Event.SESSION_REFUSED,
        Outcome.DENIED,
        now,
        detail=f"host={host_id} reason={refusal.value} at={hop.value}",
    )
