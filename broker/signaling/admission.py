"""Admitting a viewer to a host when its WebSocket joins: the grant is checked again (the
ticket's check was up to 30 s ago), a vendor's approval is spent, then the relay pairs them.

A refusal is audited (``session_refused ... at=join``) and raised as ``AccessRefused``, which
the endpoint sends as an ``error`` with the reason and closes with 4403. The approval is
spent before the pairing with a single conditional UPDATE (two joins racing on one approval
get one session), and given back if the host turns out to be offline or busy.
"""

from __future__ import annotations

import logging
import secrets
from typing import Final

from broker.access import decision as access
from broker.access import vendor_requests
from broker.access.decision import Hop
from broker.access.grants import Refusal
from broker.access.remote_policy import RemotePolicy
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from broker.db.models import Organization, User
from broker.errors import AccessRefused, RelayError
from broker.signaling.relay import Relay
from broker.signaling.sessions import Peer, Session, ViewerIdentity

log = logging.getLogger(__name__)

ACCESS_REVOKED: Final = "access_revoked"

_MESSAGES = {
    Refusal.NO_GRANT: "no grant allows you to open this host",
    Refusal.OUTSIDE_WINDOW: "this host may not be opened at this time",
    Refusal.VENDOR_NOT_APPROVED: "an admin must approve this vendor session first",
}


def refusal_message(refusal: Refusal) -> str:
    return _MESSAGES[refusal]


async def admit(
    db: Database,
    clock: Clock,
    relay: Relay,
    *,
    org_id: int,
    host_id: str,
    owner: int,
    identity: ViewerIdentity,
    source: str,
    peer: Peer,
    policy: RemotePolicy | None = None,
    device_id: int | None = None,
) -> Session:
    """The session for this viewer on ``host_id``, under the clinic's ``policy``, opened
    from viewing device ``device_id`` (carried on the session so revoking it ends it).

    Raises:
        AccessRefused: no grant, outside its window, or (vendors) no unspent approval.
        RelayError: the host is offline or busy (the approval, if any, is not spent).
    """
    now = clock.now()
    actor = Actor(source, identity.user_id, org_id, identity.username)
    session_id = secrets.token_urlsafe(16)
    async with db.session() as s:
        user = await s.get(User, identity.user_id)
        org = await s.get(Organization, org_id)
        if user is None or org is None or user.org_id != org_id:
            raise AccessRefused(Refusal.NO_GRANT.value, refusal_message(Refusal.NO_GRANT))
        checked = await access.for_host(s, user, org, host_id, now)
        refusal = checked.decision.refusal
        approval = checked.approval
        spent = approval is None or await vendor_requests.spend(s, approval.id, session_id, now)
        if refusal is None and not spent:
            refusal = Refusal.VENDOR_NOT_APPROVED
        if refusal is not None:
            await s.rollback()
            access.record_refusal(s, actor, host_id, refusal, Hop.JOIN, now)
            await s.commit()
            log.info("viewer %s refused on %s: %s", identity.username, host_id, refusal.value)
            raise AccessRefused(refusal.value, refusal_message(refusal))
        await s.commit()
    decision = checked.decision
    try:
        session = await relay.join(
            org_id,
            host_id,
            peer,
            owner,
            identity,
            policy,
            view_only=decision.view_only,
            closes_at=decision.closes_at,
            session_id=session_id,
            device_id=device_id,
        )
    except RelayError:
        if approval is not None:
            async with db.session() as s:
                await vendor_requests.give_back(s, approval.id, session_id)
                await s.commit()
        raise
    if approval is not None:
        async with db.session() as s:
            record(
                s,
                actor,
                Event.VENDOR_APPROVAL_USED,
                Outcome.SUCCESS,
                clock.now(),
                detail=f"request={approval.id} host={host_id} session={session_id}",
            )
            await s.commit()
    return session


async def recheck(db: Database, clock: Clock, relay: Relay, org_id: int) -> None:
    """Hold every live session of ``org_id`` against the grants as they are now (after a
    grant or the clinic's zone changed): one no longer allowed, or allowed only to view when
    it has control, ends (``access_revoked``); the others follow their window's new end.
    Replicas holding sessions of ``org_id`` do the same (``Relay.elsewhere``)."""
    await recheck_here(db, clock, relay, org_id)
    await relay.elsewhere("recheck", org=org_id)


async def recheck_here(db: Database, clock: Clock, relay: Relay, org_id: int) -> None:
    """``recheck`` for the sessions this process holds."""
    now = clock.now()
    for session in relay.sessions_of(org_id):
        who = session.identity
        async with db.session() as s:
            user = await s.get(User, who.user_id) if who is not None else None
            org = await s.get(Organization, org_id)
            decision = None
            if user is not None and org is not None:
                decision = await access.grants_only(
                    s, user, org, session.agent.host_id, now, view_only=session.view_only
                )
        if (
            decision is None
            or not decision.allowed
            or (decision.view_only and not session.view_only)
        ):
            log.info("session %s: grant no longer allows it", session.session_id)
            await relay.end(session, ACCESS_REVOKED)
        else:
            session.closes_at = decision.closes_at
