"""The agent's own enforcement of a session's policy, whatever the broker or page did.

Fail closed at each hop (DESIGN.md): the broker checks the SDP, the limits and who may
connect; the agent checks them again, because it is the last thing between a browser and
the clinic's desktop. One ``SessionGuard`` per session holds:

- the `input` channel policy (``channel_policy``): foreign channels and messages, oversize
  and floods are violations, and so is every input message of a view-only session (the
  grant allows the picture only): reported to the broker for audit and, by default, the
  end of the session;
- the idle and maximum time (``mamori_protocol.session_limits``), checked every second;
  input is also reported to the broker (``activity``, at most once per
  ``activity_every_s``), which keeps its own idle clock and decides the clear-screen;
- the banner on the host's screen naming the viewer, and the optional lock of the host's
  own keyboard and mouse, for exactly as long as the session lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

import mamori_protocol as protocol
from host_agent.input.channel_policy import (
    InputPolicy,
    PolicyViolation,
    TextNotAdmitted,
    check_channel_label,
)
from host_agent.input.events import InputEvent
from host_agent.platform.backends import Banner, InputLock, open_banner, open_local_input_lock
from mamori_protocol.session_limits import (
    LimitState,
    SessionLimits,
    SessionTimer,
    activity_every_s,
)
from mamori_protocol.text_input import TextEntry

log = logging.getLogger(__name__)

CHECK_EVERY_S: Final = 1.0


class SessionGuard:
    """Policy of one session; ``end(reason)`` is awaited when the guard ends the session."""

    def __init__(
        self,
        start: protocol.SessionStart,
        display: str | None,
        width: int,
        height: int,
        report: Callable[[str, str], Awaitable[None]],
        end: Callable[[str], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
        check_every_s: float = CHECK_EVERY_S,
        activity: Callable[[], None] | None = None,
    ) -> None:
        self.start = start
        self._check_every_s = check_every_s
        self.input_policy = InputPolicy(
            width,
            height,
            clock=clock,
            view_only=start.view_only,
            text_entry=TextEntry(start.text_entry),
        )
        self.timer = SessionTimer(SessionLimits(start.idle_s, max(start.max_s, 1), 0), clock())
        self._display = display
        self._report = report
        self._end = end
        self._clock = clock
        self._banner: Banner | None = None
        self._lock: InputLock | None = None
        self._task: asyncio.Task[None] | None = None
        self._ending = False
        self._activity = activity
        self._activity_every_s = activity_every_s(start.idle_s)
        self._activity_sent_at: float | None = None

    def begin(self) -> None:
        """Put the banner up, lock local input if the policy says so, start the clock."""
        who = f"{self.start.viewer_name}（{self.start.organization}）"
        self._banner = open_banner(self._display)
        if self._banner is not None:
            self._banner.show(f"遠隔操作中: {who}")
        if self.start.block_local_input:
            self._lock = open_local_input_lock(self._display, who)
            if self._lock is not None:
                self._lock.lock()
        self._task = asyncio.create_task(self._watch_limits())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for part in (self._lock, self._banner):
            if part is not None:
                part.close()
        self._lock = self._banner = None

    async def check_channel(self, label: str, already_open: bool) -> bool:
        """True if the channel may be used; otherwise the violation is handled here."""
        try:
            check_channel_label(label, already_open)
        except PolicyViolation as exc:
            await self.violation(exc)
            return False
        return True

    def admit(self, raw: str | bytes) -> InputEvent:
        """The event to inject; counts as activity for the idle clock.

        Raises:
            PolicyViolation: see ``channel_policy``; the caller passes it to ``violation``.
            TextNotAdmitted: the caller passes it to ``text_refused``.
            InvalidInput: drop and count.
        """
        event = self.input_policy.admit(raw)
        now = self._clock()
        self.timer.touch(now)
        self._note_activity(now)
        return event

    def _note_activity(self, now: float) -> None:
        # Rate-limited on the leading edge: the broker's idle clock is at most
        # activity_every_s behind the agent's, and typing costs a few messages a minute.
        sent = self._activity_sent_at
        if self._activity is None or (sent is not None and now - sent < self._activity_every_s):
            return
        self._activity_sent_at = now
        self._activity()

    async def violation(self, exc: PolicyViolation) -> None:
        """Report a violation for audit and, unless the policy says otherwise, end."""
        log.warning("session %s: %s", self.start.session_id, exc)
        await self._report(exc.violation.value, exc.detail[:200])
        if self.start.end_on_violation:
            await self._finish(exc.violation.value)

    async def text_refused(self, exc: TextNotAdmitted) -> None:
        """Report the first refused `text` message of a burst for audit; the session goes on
        (nothing was typed)."""
        if not exc.report:
            return  # the rest of a burst: counted by the caller, logged and audited once
        log.warning("session %s: text refused: %s", self.start.session_id, exc)
        await self._report(exc.refusal.value, exc.detail[:200])

    async def _watch_limits(self) -> None:
        while True:
            await asyncio.sleep(self._check_every_s)
            if self._banner is not None:
                self._banner.refresh()
            state = self.timer.status(self._clock()).state
            if state is LimitState.IDLE:
                await self._finish("idle_timeout")
                return
            if state is LimitState.EXPIRED:
                await self._finish("max_session_time")
                return

    async def _finish(self, reason: str) -> None:
        if self._ending:
            return
        self._ending = True
        await self._end(reason)
