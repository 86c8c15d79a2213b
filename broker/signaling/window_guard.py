"""A running session's time window: a warning ahead of its end, then the end itself.

A grant's window ("weekdays 18:00-23:00") bounds the session, not only its start: the viewer
is told ``warn_s`` (5 min) ahead with a ``window_closing`` notice and the session ends with
bye ``window_closed`` when the window closes (audited as the session's end and reason).
The instant comes from the broker's clock (``broker/clock.py``), read every second, so a
test that moves the clock sees the session end without waiting; a grant changed during the
session moves ``Session.closes_at`` and the watch follows it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Final

import mamori_protocol as protocol
from broker.clock import Clock

if TYPE_CHECKING:
    from broker.signaling.relay import Relay
    from broker.signaling.sessions import Session

log = logging.getLogger(__name__)

# How often the clock is read: the session ends at most this late.
POLL_S: Final = 1.0
WINDOW_CLOSED: Final = "window_closed"
WINDOW_CLOSING: Final = "window_closing"


async def watch_window(
    relay: Relay, session: Session, clock: Clock, warn_s: int, poll_s: float = POLL_S
) -> None:
    """Run for the session's life (the relay cancels it when the session ends)."""
    try:
        await _watch(relay, session, clock, warn_s, poll_s)
    except Exception:
        # Nobody awaits this task until the session ends; a failure must at least be seen.
        log.exception("session %s: window watch failed", session.session_id)


async def _watch(relay: Relay, session: Session, clock: Clock, warn_s: int, poll_s: float) -> None:
    warned_for = None
    while session.agent.session is session:
        closes_at = session.closes_at
        if closes_at is not None:
            left = (closes_at - clock.now()).total_seconds()
            if left <= 0:
                await relay.end(session, WINDOW_CLOSED)
                return
            if warn_s and left <= warn_s and warned_for != closes_at:
                warned_for = closes_at
                notice = protocol.Notice(WINDOW_CLOSING, max(1, math.ceil(left)))
                await session.viewer.send(protocol.encode(notice))
        await asyncio.sleep(poll_s)
