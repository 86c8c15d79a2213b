"""Connections to the agent port that wait for a handshake slot without any TLS (issue 18,
the reconnect storm).

A restarted broker's fleet dials it within seconds. Until now a connection past the bound
on handshakes was closed at once (the agent then backed off, its ceiling doubling) and one
let through TLS past the registration bound was answered 503 + Retry-After after a full
handshake with a client certificate: 2,000 agents came back in waves over 59 s, through
5,759 such answers and 1,084 closes. The cheapest "come back later" costs no handshake and
keeps the agent's place, so a connection past the bound is *parked*: accepted, its reading
paused (its ClientHello stays in the kernel's socket buffer, nothing is allocated for TLS),
queued first come first served, and its TLS handshake starts as soon as a slot frees.

Everything about it is bounded, since nothing is known about a parked peer (it has not
even shown a certificate):

- at most ``limit`` connections are parked; one more is closed before any TLS, as before;
- a connection parked ``wait_s`` without a slot is closed, shorter than the agent's own
  10 s open timeout so the handshake that follows can still finish within it (an agent
  that gave up would only cost a handshake for nothing);
- refusals and expiries are counted and logged at most once per ``LOG_EVERY_S``.

A parked connection costs its socket, an asyncio transport and this small protocol; no
read buffer (reading is paused) and one timer.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

LOG_EVERY_S: Final = 10.0


class ParkedConnection(asyncio.Protocol):
    """A connection accepted but not yet handshaking: reading paused until ``start``."""

    def __init__(self, queue: ParkingQueue) -> None:
        self._queue = queue
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            transport.close()
            return
        self.transport = transport
        # The transport adds its reader after this call; paused, it never does until resumed.
        transport.pause_reading()
        self._timer = asyncio.get_running_loop().call_later(self._queue.wait_s, self._expire)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._forget()

    def take(self) -> asyncio.Transport | None:
        """The transport to hand to the TLS layer, or None when the connection is gone."""
        transport = self.transport
        self._forget()
        if transport is None or transport.is_closing():
            return None
        return transport

    def abort(self) -> None:
        transport = self.transport
        self._forget()
        if transport is not None:
            transport.abort()

    def _expire(self) -> None:
        self._timer = None
        if not self.gone:
            self._queue.expired += 1
            self._queue.note_refusal()
            self.abort()

    def _forget(self) -> None:
        if not self.gone:
            self.gone = True
            self._queue.waiting -= 1
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ParkingQueue:
    """First come, first served; bounded in count and in time."""

    def __init__(self, limit: int, wait_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.wait_s = wait_s
        self._clock = clock
        self._queue: collections.deque[ParkedConnection] = collections.deque()
        self.waiting = 0  # parked and still open (the deque may still hold gone ones)
        self.parked_total = 0
        self.refused = 0
        self.expired = 0
        self._logged_at = -LOG_EVERY_S
        self._logged = (0, 0)

    def __len__(self) -> int:
        return self.waiting

    def park(self) -> ParkedConnection | None:
        """A parked protocol for one more connection, or None (counted) when full."""
        if len(self) >= self.limit:
            self.refused += 1
            self.note_refusal()
            return None
        self._drop_gone()
        parked = ParkedConnection(self)
        self._queue.append(parked)
        self.waiting += 1
        self.parked_total += 1
        return parked

    def next(self) -> asyncio.Transport | None:
        """The longest-waiting connection still open (taken off the queue), or None."""
        while self._queue:
            transport = self._queue.popleft().take()
            if transport is not None:
                return transport
        return None

    def close_all(self) -> None:
        """Stopping: every parked connection is closed (none may outlive the server)."""
        while self._queue:
            self._queue.popleft().abort()

    def note_refusal(self) -> None:
        """Log refusals and expiries in aggregate: a flood must not become a log flood."""
        now = self._clock()
        if now - self._logged_at < LOG_EVERY_S:
            return
        refused, expired = self.refused - self._logged[0], self.expired - self._logged[1]
        self._logged_at, self._logged = now, (self.refused, self.expired)
        log.warning(
            "agent port saturated: %d connection(s) closed before TLS, all %d parking places "
            "taken; %d closed after waiting %.1f s for a handshake slot",
            refused,
            self.limit,
            expired,
            self.wait_s,
        )

    def _drop_gone(self) -> None:
        # Expired connections leave the deque here, from the head (FIFO with one wait: the
        # oldest expire first), rather than by an O(n) removal each; ``waiting`` is exact.
        while self._queue and self._queue[0].gone:
            self._queue.popleft()
