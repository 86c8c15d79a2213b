"""Live sessions across a broker restart (issue 18): suspended on SIGTERM, re-adopted by
policy when their agent re-registers them, closed in the audit when they cannot be.

Media is peer-to-peer, so a broker that stops need not end the sessions it relays:

- On SIGTERM (``suspend_all``) no session ends: each is let go without an end record, its
  ``open_sessions`` row says ``broker_shutdown``, and its viewer and agent sockets close with
  1012 (service restart), which both ends take as "keep the media, come back". After a
  crash (SIGKILL) the rows are simply left over.
- At start (``start``) the rows this replica left over wait ``session_resume_s``: an agent
  that re-registers its session (``session_resume``) gets it re-adopted (``adopt``) when the
  row names that host and viewer and the session may still run now: its person is not
  disabled, its browser session still signed in, its viewing device still approved, a grant
  still allows it (control only if the session had control), its maximum time not reached.
  Then ``session_resumed`` is audited, the agent hears ``session_resumed``, and the relay's
  limits, window, idle clock and admin end apply again. Otherwise the agent hears a ``bye``
  with the real reason, which the audit records as the session's end.
- A kept session that ended on the agent while the broker was away (its peer connection
  failed) is told on the next link (``session_lost``) and closed with that reason.
- The rows no agent re-registered in time are closed as ``broker_shutdown`` or
  ``broker_crashed`` (``session_audit.close_crashed``); a re-adopted session whose viewer
  does not come back (``resume_endpoint``) in that time ends as ``viewer_left``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any, Final

from sqlalchemy import select, update

import mamori_protocol as protocol
from broker.access import decision as access
from broker.access import remote_policy as org_policy
from broker.access.grants import Refusal
from broker.access.zones import zone_of
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from broker.db.models import BrowserSession, OpenSession, Organization, User, ViewingDevice
from broker.devices import register as devices
from broker.identity.sessions import Stage
from broker.signaling.relay import Relay
from broker.signaling.resume_secret import secret_hash
from broker.signaling.session_audit import close_crashed, close_lost
from broker.signaling.sessions import AgentLink, Peer, Session, ViewerIdentity
from mamori_protocol import CloseCode

log = logging.getLogger(__name__)

SHUTDOWN_REASON: Final = "broker_shutdown"
# A re-registered session the broker has no record of (already closed, or never its own).
UNKNOWN: Final = "session_unknown"


class AwaitingViewer:
    """The viewer side of a re-adopted session until its page takes the signaling back:
    what the agent sends meanwhile (nothing is expected: the peer connection is up) is
    dropped."""

    async def send(self, text: str) -> None:
        return None

    async def close(self, code: int, reason: str) -> None:
        return None


# Why a page could not take a re-adopted session back (``take_over``).
VIEWER_PRESENT: Final = "resume: viewer present"
SECRET_USED: Final = "resume: secret already used"  # noqa: S105 - a refusal, not a secret
SESSION_ENDED: Final = "resume: session ended"


async def take_over(db: Database, session: Session, used: str, viewer: Peer) -> str | None:
    """The page whose resume secret hashes to ``used`` takes ``session``'s signaling back
    over ``viewer``, and is sent the next secret; why not (None: taken).

    The secret is replaced by one conditional UPDATE on the session's row, so it serves
    exactly one reconnect even when two pages, or two replicas routing them, race for it:
    one UPDATE matches, the others find it spent. Called on the replica holding the session
    (the page's own replica routes it there: broker/replicas/remote_resume.py)."""
    if not isinstance(session.viewer, AwaitingViewer):
        return VIEWER_PRESENT
    fresh = secrets.token_urlsafe(32)
    async with db.session() as s:
        replaced = await s.execute(
            update(OpenSession)
            .where(OpenSession.session_id == session.session_id, OpenSession.resume_hash == used)
            .values(resume_hash=secret_hash(fresh))
        )
        await s.commit()
    if getattr(replaced, "rowcount", 0) != 1 or not isinstance(session.viewer, AwaitingViewer):
        return SECRET_USED
    if session.agent.session is not session:
        return SESSION_ENDED
    session.resume_secret = fresh
    session.viewer = viewer
    await viewer.send(protocol.encode(protocol.ResumeToken(fresh)))
    log.info("session %s: viewer signaling resumed", session.session_id)
    return None


class Adoption:
    """One per broker process: the sessions left over at start, and re-adoption."""

    def __init__(
        self, db: Database, clock: Clock, relay: Relay, replica: str, window_s: float
    ) -> None:
        self._db = db
        self._clock = clock
        self._relay = relay
        self._replica = replica
        self.window_s = window_s
        # Rows left over at start that no agent re-registered yet.
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Before anything is relayed: note the sessions this replica left over, and close
        them once they had their time (at once when the window is 0)."""
        if self.window_s <= 0:
            await close_crashed(self._db, self._clock, self._replica)
            return
        async with self._db.session() as s:
            ids = await s.scalars(
                select(OpenSession.session_id).where(OpenSession.replica == self._replica)
            )
            self._pending = set(ids)
        if self._pending:
            log.info("%d live session(s) may be re-adopted", len(self._pending))
            self._spawn(self._close_unclaimed())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_unclaimed(self) -> None:
        await asyncio.sleep(self.window_s)
        # Taken synchronously: an adoption from now on finds its row gone (session_unknown).
        unclaimed, self._pending = self._pending, set()
        if unclaimed:
            closed = await close_crashed(self._db, self._clock, self._replica, only=unclaimed)
            log.warning("%d session(s) not re-adopted in time: closed", len(closed))

    async def suspend_all(self) -> int:
        """SIGTERM: refuse new sessions, let every live one go without an end (its row says
        why), and tell both ends the broker restarts. How many were suspended."""
        self._relay.draining = True
        live = [a.session for a in self._relay.agents() if a.session is not None]
        for session in live:
            session.agent.session = None  # its sockets' closing cannot end it now
            for task in (session.limit_task, session.window_task, session.idle_task):
                if task is not None and not task.done():
                    task.cancel()
        if live:
            async with self._db.session() as s:
                await s.execute(
                    update(OpenSession)
                    .where(OpenSession.session_id.in_([x.session_id for x in live]))
                    .values(suspended_reason=SHUTDOWN_REASON)
                )
                await s.commit()
        for session in live:
            await session.viewer.close(CloseCode.SERVICE_RESTART, "broker restarting")
        for agent in self._relay.agents():
            await agent.peer.close(CloseCode.SERVICE_RESTART, "broker restarting")
        return len(live)

    async def adopt(self, link: AgentLink, resume: protocol.SessionResume) -> None:
        """The agent re-registered a live session: adopt it, or end it with the reason."""
        sid = resume.session_id
        self._pending.discard(sid)
        session, reason = await self._checked(link, resume)
        if session is None:
            log.warning("session %s re-registered by %s: unknown", sid, link.host_id)
            await link.peer.send(protocol.encode(protocol.Bye(reason=UNKNOWN, session_id=sid)))
            return
        if reason is None and not self._relay.adopt(session):
            reason = "host_busy"
        if reason is not None:
            log.info("session %s not re-adopted: %s", sid, reason)
            # On record before the agent closes anything (as a start is before it begins).
            await self._relay.events.ended(session, reason)
            await link.peer.send(protocol.encode(protocol.Bye(reason=reason, session_id=sid)))
            return
        # A replica's relay (broker/replicas/routing.py) tells the others what it holds.
        changed = getattr(self._relay, "changed", None)
        if callable(changed):
            changed()
        await self._record_resumed(session)
        # Read again now the relay holds it: a sign-out or revocation committed after the
        # check above found no session to end; one committed after this read finds it.
        late = await self._revoked_since(session)
        if late is not None:
            await self._relay.end(session, late, CloseCode.UNAUTHORIZED)
            return
        await link.peer.send(protocol.encode(protocol.SessionResumed(session_id=sid)))
        log.info("session %s re-adopted on %s", sid, link.host_id)
        self._spawn(self._await_viewer(session))

    async def lost(self, link: AgentLink, lost: protocol.SessionLost) -> None:
        """The agent kept a session through the broker's absence and saw it end meanwhile:
        its end is recorded with the agent's reason, not as the restart's."""
        self._pending.discard(lost.session_id)
        if not await close_lost(self._db, self._clock, link.org_id, link.host_id, lost):
            log.warning(
                "session %s reported lost by %s: no such open session", lost.session_id,
                link.host_id,
            )  # fmt: skip

    async def _revoked_since(self, session: Session) -> str | None:
        async with self._db.session() as s:
            owner = await s.get(BrowserSession, session.owner) if session.owner else None
            if owner is None or owner.stage != Stage.ACTIVE or owner.revoked_at is not None:
                return "signed_out"
            device = await s.get(ViewingDevice, session.device_id) if session.device_id else None
            if devices.refusal_code(device) is not None:
                return "device_revoked"
        return None

    async def _await_viewer(self, session: Session) -> None:
        await asyncio.sleep(self.window_s)
        if session.agent.session is session and isinstance(session.viewer, AwaitingViewer):
            await self._relay.end(session, "viewer_left")

    async def _checked(
        self, link: AgentLink, resume: protocol.SessionResume
    ) -> tuple[Session | None, str | None]:
        """The session as it was (None: no such row for this host and viewer) and why it
        may not run on (None: it may)."""
        now = self._clock.now()
        async with self._db.session() as s:
            row = await s.get(OpenSession, resume.session_id)
            if (
                row is None
                or row.org_id != link.org_id
                or row.host_id != link.host_id
                or row.username != resume.viewer_id
                or row.user_id is None
            ):
                return None, UNKNOWN
            user = await s.get(User, row.user_id)
            org = await s.get(Organization, row.org_id)
            if user is None or org is None:
                return None, UNKNOWN
            policy = await org_policy.policy_for(s, row.org_id, self._relay.policy)
            ran_s = max(float(resume.elapsed_s), (now - row.started_at).total_seconds())
            session = Session(
                agent=link,
                viewer=AwaitingViewer(),
                owner=row.owner_id,
                device_id=row.device_id,
                identity=ViewerIdentity(
                    user.id, user.username, user.display_name, org.name, zone_of(org)
                ),
                session_id=row.session_id,
                policy=policy,
                started_at=time.monotonic() - ran_s,
                view_only=row.view_only,
            )
            if user.disabled_at is not None:
                return session, "user_disabled"
            owner = await s.get(BrowserSession, row.owner_id) if row.owner_id else None
            if owner is None or owner.stage != Stage.ACTIVE or owner.revoked_at is not None:
                return session, "signed_out"
            device = await s.get(ViewingDevice, row.device_id) if row.device_id else None
            if devices.refusal_code(device) is not None:
                return session, "device_revoked"
            decision = await access.grants_only(
                s, user, org, row.host_id, now, view_only=row.view_only
            )
            if decision.refusal is Refusal.OUTSIDE_WINDOW:
                return session, "window_closed"
            if not decision.allowed or (decision.view_only and not row.view_only):
                return session, "access_revoked"
            session.closes_at = decision.closes_at
            if ran_s >= policy.max_s:
                return session, "max_session_time"
            return session, None

    async def _record_resumed(self, session: Session) -> None:
        who = session.identity
        actor = Actor(
            "", who.user_id if who else None, session.agent.org_id, who.username if who else ""
        )
        async with self._db.session() as s:
            record(
                s,
                actor,
                Event.SESSION_RESUMED,
                Outcome.SUCCESS,
                self._clock.now(),
                detail=(
                    f"host={session.agent.host_id} session={session.session_id} "
                    f"mode={'view' if session.view_only else 'control'} "
                    f"device={session.device_id} ran_s={session.duration_s}"
                ),
            )
            await s.execute(
                update(OpenSession)
                .where(OpenSession.session_id == session.session_id)
                .values(replica=self._replica, suspended_reason=None)
            )
            await s.commit()
