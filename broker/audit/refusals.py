"""Anonymous refusals, audited as one record per source address and kind per window.

An anonymous client made the broker write (and fsync) 300 audit records in a few seconds
(issue 12, item 5): the audit trail itself was the amplifier. A refusal that names nobody
(a rate-limited sign-in, an unknown account name, an unknown enrollment link) is still
recorded, but only the first of each kind from an address in a window is written at once;
the rest are counted, and the count is written when the window has passed (by the next
such refusal, or by ``keep_flushing``, or at shutdown), so the trail keeps every refusal's
number without one row each. Refusals that name a person (a wrong password for a real
account) keep one record each: they are bounded by the sign-in rate limit anyway.

The table is bounded: past ``MAX_KEYS`` open windows, new addresses share one window per
kind under the address ``*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from broker.audit.record import Actor, Event, Outcome, record
from broker.clock import Clock
from broker.db.engine import Database

log = logging.getLogger(__name__)

MAX_KEYS: Final = 10_000
OVERFLOW: Final = "*"


@dataclass
class _Window:
    started: datetime
    left_out: int = 0


@dataclass(frozen=True)
class Summary:
    """Refusals counted but not written one by one."""

    source: str
    event: Event
    detail: str
    count: int
    started: datetime
    ended: datetime

    def text(self) -> str:
        return (
            f"{self.detail}; {self.count} more from this address from "
            f"{self.started.isoformat(timespec='seconds')} to "
            f"{self.ended.isoformat(timespec='seconds')}, not recorded one by one"
        )


class RefusalAudit:
    """Decides which anonymous refusals are written now (sans-I/O: the caller writes)."""

    def __init__(self, window_s: int, max_keys: int = MAX_KEYS) -> None:
        self._window = timedelta(seconds=window_s)
        self._max_keys = max_keys
        self._open: dict[tuple[str, Event, str], _Window] = {}
        self._closed: list[Summary] = []

    def admit(self, source: str, event: Event, detail: str, now: datetime) -> bool:
        """Whether to write this refusal now; if not, it is counted into its window."""
        key = (source, event, detail)
        if key not in self._open and len(self._open) >= self._max_keys:
            key = (OVERFLOW, event, detail)
        window = self._open.get(key)
        if window is not None and now - window.started < self._window:
            window.left_out += 1
            return False
        if window is not None and window.left_out:
            # The closed window's count is written by the next ``due``; keep it apart.
            self._closed.append(self._summary(key, window))
        self._open[key] = _Window(now)
        return True

    def due(self, now: datetime, everything: bool = False) -> list[Summary]:
        """The counts of windows that have passed (all open ones with ``everything``), to
        write now; they are forgotten here."""
        found = list(self._closed)
        self._closed.clear()
        for key, window in list(self._open.items()):
            if everything or now - window.started >= self._window:
                del self._open[key]
                if window.left_out:
                    found.append(self._summary(key, window))
        return found

    def _summary(self, key: tuple[str, Event, str], window: _Window) -> Summary:
        source, event, detail = key
        return Summary(
            source, event, detail, window.left_out, window.started, window.started + self._window
        )


async def write_summaries(db: Database, summaries: list[Summary], now: datetime) -> None:
    if not summaries:
        return
    async with db.session() as s:
        for summary in summaries:
            record(
                s,
                Actor(summary.source, name=""),
                summary.event,
                Outcome.DENIED,
                now,
                detail=summary.text(),
            )
        await s.commit()


async def keep_flushing(audit: RefusalAudit, db: Database, clock: Clock, every_s: float) -> None:
    """Write the counts of passed windows until cancelled; then everything still open."""
    try:
        while True:
            await asyncio.sleep(every_s)
            try:
                await write_summaries(db, audit.due(clock.now()), clock.now())
            except Exception:
                log.exception("could not write the count of refused requests; trying again")
    finally:
        with contextlib.suppress(Exception):
            await write_summaries(db, audit.due(clock.now(), everything=True), clock.now())
