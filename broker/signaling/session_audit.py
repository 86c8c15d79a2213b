"""Remote sessions in the audit trail: who looked at which host, for how long, how it ended,
and every attempt against the pixel-only policy (MHLW.md rows 3, 11, 12).

The relay reports; this writes. An idle session also sends the viewer's browser session back
to the second-factor step (クリアスクリーン, MHLW.md row 8): the relay awaits ``idle`` before
the host is free again.
"""

from __future__ import annotations

import logging

from broker.alerts import rules as alert_rules
from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database
from broker.identity import sessions
from broker.signaling.sessions import Session

log = logging.getLogger(__name__)

# Session ends that are the system protecting itself, not the person finishing their work.
_PROTECTIVE_ENDS = frozenset(
    {"idle_timeout", "max_session_time", "sdp_refused", "window_closed", "access_revoked"}
)


class AuditedSessionEvents:
    """The relay's ``SessionEvents``, written to the audit table."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

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
