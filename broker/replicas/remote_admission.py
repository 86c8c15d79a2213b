"""The agent's replica checks a routed viewer again before it pairs it (fail closed).

The viewer's replica did the full admission (ticket, device challenge, grant, window, a
vendor's approval spent on the session id). What arrives here over Redis is only a claim;
this replica reads the database itself: the browser session is still active and the
person's, the person is not disabled, the device is approved and theirs, and a grant allows
the session now (its window's end comes from this read). Anything else: refused, audited.
The person's name, clinic, zone and the clinic's policy are read here too, never taken
from the message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from broker.access import decision as access
from broker.access import remote_policy as org_policy
from broker.access.remote_policy import RemotePolicy
from broker.access.zones import zone_of
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from broker.db.models import BrowserSession, Organization, User, ViewingDevice
from broker.devices import register as devices
from broker.identity.sessions import Stage
from broker.signaling.sessions import Session, ViewerIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutedJoin:
    """What the viewer's replica asks for (``wire`` op ``join``)."""

    org_id: int
    host_id: str
    owner: int
    user_id: int
    device_id: int
    session_id: str
    view_only: bool


@dataclass(frozen=True)
class Admitted:
    identity: ViewerIdentity
    policy: RemotePolicy
    view_only: bool
    closes_at: datetime | None


def lapsed(browser: BrowserSession | None, user_id: int, now: datetime) -> bool:
    """The browser session is gone, another person's, not fully signed in, revoked or
    expired."""
    return (
        browser is None
        or browser.user_id != user_id
        or browser.stage != Stage.ACTIVE
        or browser.revoked_at is not None
        or browser.expires_at <= now
    )


async def refused(
    s: AsyncSession, replica: str, user: User | None, org_id: int, event: Event, detail: str,
    now: datetime,
) -> None:  # fmt: skip
    """A routed request refused here: on record (committed) as this replica's refusal."""
    actor = Actor(
        "replica:" + replica, user.id if user else None, org_id, user.username if user else ""
    )
    record(s, actor, event, Outcome.DENIED, now, detail=detail)
    await s.commit()
    log.warning("routed request refused: %s", detail)


async def check(
    db: Database, clock: Clock, defaults: RemotePolicy, join: RoutedJoin, replica: str
) -> Admitted | None:
    """The session's terms as this replica reads them, or None (refused and audited)."""
    now = clock.now()
    async with db.session() as s:
        user = await s.get(User, join.user_id)
        org = await s.get(Organization, join.org_id)
        browser = await s.get(BrowserSession, join.owner)
        device = await s.get(ViewingDevice, join.device_id)
        why = None
        if user is None or org is None or user.org_id != org.id or user.disabled_at is not None:
            why = "user"
        elif lapsed(browser, user.id, now):
            why = "browser_session"
        elif (
            devices.refusal_code(device) is not None or device is None or device.user_id != user.id
        ):
            why = "device"
        decision = None
        if why is None and user is not None and org is not None:
            decision = await access.grants_only(
                s, user, org, join.host_id, now, view_only=join.view_only
            )
            if not decision.allowed or (decision.view_only and not join.view_only):
                why = "grant"
        if why is not None or user is None or org is None or decision is None:
            detail = f"host={join.host_id} at=route reason={why} session={join.session_id}"
            await refused(s, replica, user, join.org_id, Event.SESSION_REFUSED, detail, now)
            return None
        identity = ViewerIdentity(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            organization=org.name,
            time_zone=zone_of(org),
        )
        policy = await org_policy.policy_for(s, org.id, defaults)
        return Admitted(identity, policy, join.view_only, decision.closes_at)


async def refusal_now(db: Database, clock: Clock, session: Session) -> str | None:
    """Why a session held here may not go on (the reason it ends with), or None: its
    browser session signed out or its person disabled (``signed_out``), its device revoked
    (``device_revoked``). Used after this replica may have missed a broadcast."""
    now = clock.now()
    async with db.session() as s:
        if session.owner is not None:
            browser = await s.get(BrowserSession, session.owner)
            user = await s.get(User, browser.user_id) if browser is not None else None
            if (
                browser is None
                or user is None
                or user.disabled_at is not None
                or browser.revoked_at is not None
                or browser.expires_at <= now
            ):
                return "signed_out"
        if session.device_id is not None:
            device = await s.get(ViewingDevice, session.device_id)
            if devices.refusal_code(device) is not None:
                return "device_revoked"
    return None
