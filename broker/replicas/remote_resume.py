"""The holder's side of a page taking its re-adopted session back through another replica.

A session is re-adopted by the replica its agent re-registered it on (adoption); its page
may come back on another one (a balancer spreads connections). That replica checked the
page's browser session cookie, its secret and its device as for a resume of its own, and
sends ``resume`` over this replica's channel. Nothing in it is taken on trust: here the
secret must name that very session and the browser session it claims, that browser session
must still be active and the person's, the person not disabled, and the device the session
was opened from still approved (fail closed; refusals audited ``at=route``). Then the
secret is spent by the same conditional UPDATE as a local resume (``adoption.take_over``),
so it serves one reconnect even when two replicas race for it, and the next one goes to
the page through its replica.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select

from broker.audit.record import Event
from broker.clock import Clock
from broker.db.engine import Database
from broker.db.models import BrowserSession, OpenSession, User, ViewingDevice
from broker.devices import register as devices
from broker.replicas import remote_admission, wire
from broker.signaling import adoption
from broker.signaling.relay import Relay
from broker.signaling.resume_secret import secret_hash
from broker.signaling.sessions import Peer, Session

log = logging.getLogger(__name__)

# How long the holder waits for its agent to re-register the session (it holds the agent's
# claim from the agent's hello, a moment before the session is adopted). Under
# fronts.JOIN_TIMEOUT_S, so the answer reaches the page's replica while it still waits.
WAIT_S: Final = 3.0
_POLL_S: Final = 0.1

PENDING: Final = "resume_pending"
REFUSED: Final = "resume_refused"


@dataclass(frozen=True)
class RoutedResume:
    """What the page's replica asks for (``wire`` op ``resume``)."""

    conn: str
    org_id: int
    host_id: str
    owner: int
    user_id: int
    session_id: str
    secret: str

    @classmethod
    def of(cls, m: wire.Message) -> RoutedResume:
        return cls(m["conn"], m["org"], m["host"], m["owner"], m["user"], m["session"], m["secret"])


async def refusal(db: Database, clock: Clock, resume: RoutedResume, replica: str) -> str | None:
    """Why this resume may not take its session (audited), or None."""
    now = clock.now()
    async with db.session() as s:
        row = await s.scalar(
            select(OpenSession).where(OpenSession.resume_hash == secret_hash(resume.secret))
        )
        user = await s.get(User, resume.user_id)
        why = None
        if (
            row is None
            or row.session_id != resume.session_id
            or row.org_id != resume.org_id
            or row.host_id != resume.host_id
            or row.owner_id != resume.owner
            or row.user_id != resume.user_id
        ):
            why = "secret"
        elif user is None or user.org_id != resume.org_id or user.disabled_at is not None:
            why = "user"
        else:
            browser = await s.get(BrowserSession, resume.owner)
            device = await s.get(ViewingDevice, row.device_id) if row.device_id else None
            if remote_admission.lapsed(browser, resume.user_id, now):
                why = "browser_session"
            elif devices.refusal_code(device) is not None:
                why = "device"
        if why is None:
            return None
        detail = f"resume: host={resume.host_id} at=route reason={why} session={resume.session_id}"
        await remote_admission.refused(
            s, replica, user, resume.org_id, Event.VIEWER_REFUSED, detail, now
        )
    return why


async def _held(relay: Relay, resume: RoutedResume) -> Session | None:
    """The re-adopted session on this replica, waited for a bounded while."""
    for _ in range(int(WAIT_S / _POLL_S) + 1):
        link = relay.agent(resume.org_id, resume.host_id)
        session = link.session if link is not None else None
        if session is not None and session.session_id == resume.session_id:
            return session
        await asyncio.sleep(_POLL_S)
    return None


async def take(
    db: Database,
    clock: Clock,
    relay: Relay,
    resume: RoutedResume,
    viewer: Peer,
    routed: dict[str, Session],
    replica: str,
) -> tuple[str, str]:
    """Hand the session to the routed page ``viewer``: the answer for the page's replica,
    ("", "") when taken, else a refusal's code and message. ``routed`` (the holder's
    sessions with a viewer elsewhere) gets the session before the next secret is sent, so
    a page's replica found gone then ends it as its viewer left."""
    why = await refusal(db, clock, resume, replica)
    if why == "device":
        return "device_revoked", "resume: device revoked"
    if why is not None:
        return REFUSED, "resume: unknown secret" if why == "secret" else "resume: refused"
    session = await _held(relay, resume)
    if session is None:
        return PENDING, "resume: not re-adopted yet"
    routed[resume.conn] = session
    refused = await adoption.take_over(db, session, secret_hash(resume.secret), viewer)
    if refused is not None:
        if routed.get(resume.conn) is session:
            del routed[resume.conn]
        return REFUSED, refused
    return "", ""
