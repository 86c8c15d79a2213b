"""What bounds a running session in time, started with it (and again when a restarted
broker re-adopts it): its maximum length, its idle limit and its grant's window.

Each is a task of the session's own (``Session.limit_task``, ``idle_task``, ``window_task``)
that the relay cancels when the session ends. The maximum warns the viewer ``warn_s`` ahead
with ``ending_soon`` and ends it with ``max_session_time``; idleness (クリアスクリーン, MHLW.md
row 8) ends it with ``idle_timeout``; the window is ``window_guard``'s. The agent enforces
the maximum and idle limits itself too, from its own clock: these are the broker's side.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import mamori_protocol as protocol
from broker.signaling.window_guard import watch_window
from mamori_protocol import CloseCode
from mamori_protocol.session_limits import activity_every_s

if TYPE_CHECKING:
    from broker.signaling.relay import Relay
    from broker.signaling.sessions import Session


def start_guards(relay: Relay, session: Session) -> None:
    """Start the session's maximum, window and idle tasks."""
    session.limit_task = asyncio.create_task(enforce_maximum(relay, session))
    session.window_task = asyncio.create_task(
        watch_window(relay, session, relay.clock, session.policy.warn_s)
    )
    session.idle_task = asyncio.create_task(enforce_idle(relay, session))


async def enforce_maximum(relay: Relay, session: Session) -> None:
    """Warn the viewer ``warn_s`` ahead, then end the session at ``max_s`` (the agent
    enforces the same limit itself)."""
    policy = session.policy
    # From the session's start (a re-adopted one began before this broker did).
    left = policy.max_s - (time.monotonic() - session.started_at)
    warn_s = int(min(policy.warn_s, max(0.0, left)))
    await asyncio.sleep(max(0.0, left - warn_s))
    if session.agent.session is not session:
        return
    if warn_s:
        await session.viewer.send(protocol.encode(protocol.Notice("ending_soon", warn_s)))
        await asyncio.sleep(warn_s)
    if session.agent.session is session:
        # The viewer first (see Relay.end): its page must not mistake this for a failure.
        await session.viewer.send(protocol.encode(protocol.Bye("max_session_time")))
        await relay.leave(session, "max_session_time", cancel_limit=False)
        await session.viewer.close(CloseCode.NORMAL, "max session time")


async def enforce_idle(relay: Relay, session: Session) -> None:
    """End the session with ``idle_timeout`` once no input was reported for the idle
    limit. The agent enforces the same limit from its own (exact) clock and normally
    ends first; the relay waits one reporting interval more, since the last report may
    be that much older than the last input."""
    grace = activity_every_s(session.policy.idle_s)
    while session.agent.session is session:
        left = session.last_activity_at + session.policy.idle_s + grace - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)
            continue
        await relay.end(session, "idle_timeout")
        return
