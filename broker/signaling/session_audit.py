"""Remote sessions in the audit trail: who looked at which host, for how long, how it ended,
and every attempt against the pixel-only policy (MHLW.md rows 3, 11, 12).

The relay reports; this writes. An idle session also sends the viewer's browser session back
to the second-factor step (クリアスクリーン, MHLW.md row 8): the relay awaits ``idle`` before
the host is free again.

Each started session also has an ``open_sessions`` row (same transaction as its
``session_started`` record, deleted with its ``session_ended`` one). A broker killed mid-session
writes no end; when it starts again, ``close_crashed`` records each of its rows left over as
ended with ``reason=broker_crashed``, so the trail never holds a session without an end.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.alerts import rules as alert_rules
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from broker.db.models import OpenSession
from broker.identity import sessions
from broker.signaling.resume_secret import secret_hash
from broker.signaling.sessions import Session
from mamori_protocol import SessionLost

log = logging.getLogger(__name__)

# Session ends that are the system protecting itself, not the person finishing their work.
_PROTECTIVE_ENDS = frozenset(
    {"idle_timeout", "max_session_time", "sdp_refused", "window_closed", "access_revoked"}
)


class AuditedSessionEvents:
    """The relay's ``SessionEvents``, written to the audit table."""

    def __init__(self, db: Database, clock: Clock, replica: str = "broker") -> None:
        self._db = db
        self._clock = clock
        self._replica = replica

    def _actor(self, session: Session) -> Actor:
        who = session.identity
        return Actor(
            source_address="",
            user_id=who.user_id if who else None,
            org_id=session.agent.org_id,
            name=who.username if who else "",
        )

    async def started(self, session: Session) -> None:
        async with self._db.session() as s:
            record(
                s,
                self._actor(session),
                Event.SESSION_STARTED,
                Outcome.SUCCESS,
                self._clock.now(),
                detail=(
                    f"host={session.agent.host_id} session={session.session_id} "
                    f"mode={'view' if session.view_only else 'control'} "
                    f"device={session.device_id}"
                ),
            )
            who = session.identity
            s.add(
                OpenSession(
                    session_id=session.session_id,
                    replica=self._replica,
                    org_id=session.agent.org_id,
                    host_id=session.agent.host_id,
                    user_id=who.user_id if who else None,
                    username=who.username if who else "",
                    started_at=self._clock.now(),
                    owner_id=session.owner,
                    device_id=session.device_id,
                    view_only=session.view_only,
                    resume_hash=secret_hash(session.resume_secret),
                )
            )
            await s.commit()

    async def ended(self, session: Session, reason: str) -> None:
        async with self._db.session() as s:
            record(
                s,
                self._actor(session),
                Event.SESSION_ENDED,
                Outcome.SUCCESS,
                self._clock.now(),
                detail=(
                    f"host={session.agent.host_id} session={session.session_id} "
                    f"reason={reason} duration_s={session.duration_s}"
                ),
            )
            await s.execute(delete(OpenSession).where(OpenSession.session_id == session.session_id))
            await s.commit()
        if reason in _PROTECTIVE_ENDS:
            log.info("session %s ended for protection: %s", session.session_id, reason)

    async def idle(self, session: Session) -> None:
        if session.owner is None:
            return
        async with self._db.session() as s:
            if await sessions.require_second_factor_again(s, session.owner, self._clock.now()):
                log.info("session %s idle: second factor asked again", session.session_id)
            await s.commit()

    async def violation(self, session: Session, violation: str, detail: str) -> None:
        async with self._db.session() as s:
            record(
                s,
                self._actor(session),
                Event.POLICY_VIOLATION,
                Outcome.DENIED,
                self._clock.now(),
                detail=(
                    f"host={session.agent.host_id} session={session.session_id} "
                    f"violation={violation} {detail}"
                ),
            )
            who = session.identity
            await alert_rules.policy_violation(
                s,
                session.agent.org_id,
                self._clock.now(),
                user=who.display_name if who else "",
                username=who.username if who else "",
                host=session.agent.name,
                host_id=session.agent.host_id,
                violation=violation,
            )
            await s.commit()


async def close_crashed(
    db: Database, clock: Clock, replica: str, only: set[str] | None = None
) -> list[str]:
    """Record the end of every session ``replica`` held when it stopped without ending them
    (of those named in ``only``, when given); their ids. The reason is why the broker
    stopped: ``broker_shutdown`` when it said so, else ``broker_crashed``. Run at start, or
    once the sessions had their time to be re-adopted (broker/signaling/adoption.py)."""
    now = clock.now()
    async with db.session() as s:
        query = select(OpenSession).where(OpenSession.replica == replica)
        if only is not None:
            query = query.where(OpenSession.session_id.in_(only))
        rows = []
        for row in await s.scalars(query):
            # Each end recorded only by whoever deletes the row (an agent may report the
            # session's own end at the same time, ``close_lost``): never two ends, none lost.
            if await _taken(s, row.session_id):
                rows.append(row)
                _record_end(
                    s, row, now, row.suspended_reason or "broker_crashed",
                    _at_most(row.started_at, now),
                )  # fmt: skip
        await s.commit()
    for row in rows:
        log.warning("session %s was cut by a broker crash: end recorded", row.session_id)
    return [row.session_id for row in rows]


async def close_lost(
    db: Database, clock: Clock, org_id: int, host_id: str, lost: SessionLost
) -> bool:
    """Record the real end of a session its agent kept while the broker was away and saw
    end meanwhile (``session_lost``: its peer connection failed, say); False when there is no
    such open session of this host and viewer (already closed, or never its own)."""
    now = clock.now()
    async with db.session() as s:
        row = await s.get(OpenSession, lost.session_id)
        if (
            row is None
            or row.org_id != org_id
            or row.host_id != host_id
            or row.username != lost.viewer_id
            or not await _taken(s, row.session_id)
        ):
            return False
        _record_end(
            s, row, now, lost.reason, min(lost.elapsed_s, _at_most(row.started_at, now)),
            reported="agent_after_restart",
        )  # fmt: skip
        await s.commit()
    log.info("session %s ended while the broker was away: %s", lost.session_id, lost.reason)
    return True


async def _taken(s: AsyncSession, session_id: str) -> bool:
    """Delete the session's open row; whether this call is the one that did."""
    gone = await s.execute(delete(OpenSession).where(OpenSession.session_id == session_id))
    return getattr(gone, "rowcount", 0) == 1


def _record_end(
    s: AsyncSession, row: OpenSession, now: datetime, reason: str, duration_s: int,
    reported: str | None = None,
) -> None:  # fmt: skip
    record(
        s,
        Actor(source_address="", user_id=row.user_id, org_id=row.org_id, name=row.username),
        Event.SESSION_ENDED,
        Outcome.SUCCESS,
        now,
        detail=(
            f"host={row.host_id} session={row.session_id} reason={reason} "
            f"duration_s={duration_s}" + (f" reported={reported}" if reported else "")
        ),
    )


def _at_most(started_at: datetime, now: datetime) -> int:
    """The longest the session can have lasted (its end was not seen, only the restart)."""
    return max(0, int((now - started_at).total_seconds()))
