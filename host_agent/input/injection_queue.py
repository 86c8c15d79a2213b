"""One session's input, injected in the order it arrived, off the event loop.

Typing a `text` message can take a while: on X11 each character absent from the host's
keymap (kanji, kana) waits ~10 ms for its temporary binding to settle
(``platform.x11.injector``), so 64 kanji take most of a second. Done on the event loop that
would stall the video and signaling; done in threads side by side, a key pressed after the
text (Enter to confirm it) could overtake it. The queue hands events to the injector one at a
time from a single worker task, each call in a worker thread, so the order of keys, pointer
events and text stays the order the viewer sent them.

The injector is not thread-safe, but only ever runs one call at a time: the worker awaits
each call before the next, and ``close`` waits for the call in flight before releasing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from host_agent.errors import InjectionError
from host_agent.input.events import InputEvent
from host_agent.input.injection import Injector

log = logging.getLogger(__name__)

# The input rate limit (300/s, burst 600) keeps a queue far below this; full means the
# injector is stuck (an X server that stopped answering), and more would only pile up.
MAX_QUEUED: Final = 1024


class InjectionQueue:
    """Feeds one injector in order; ``put`` from the event loop, ``close`` when done."""

    def __init__(self, injector: Injector, limit: int = MAX_QUEUED) -> None:
        self._injector = injector
        self._queue: asyncio.Queue[InputEvent] = asyncio.Queue(limit)
        self._worker: asyncio.Task[None] | None = None
        self._in_flight: asyncio.Future[None] | None = None
        self._closed = False
        self.injected = 0
        self.dropped = 0
        self.failed = 0

    def put(self, event: InputEvent) -> bool:
        """Queue one validated event; False (and counted) if the queue is full or closed."""
        if self._closed:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("injection queue full: input dropped")
            return False
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())
        return True

    @property
    def idle(self) -> bool:
        """True when nothing is queued or being injected."""
        return self._queue.empty() and self._in_flight is None

    async def drain(self) -> None:
        """Wait until every queued event has been injected (tests, orderly ends)."""
        await self._queue.join()

    async def close(self) -> None:
        """Drop what is still queued, wait for the call in flight, then release every key
        and button on the host."""
        self._closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        worker, self._worker = self._worker, None
        if worker is not None:
            # Cancelling interrupts the wait for the next event only; a call in flight runs
            # on in its thread, and the release below must come after it.
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await in_flight  # _inject never raises
        try:
            await asyncio.to_thread(self._injector.release_all)
        except InjectionError:
            log.warning("could not release held input", exc_info=True)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            self._in_flight = asyncio.ensure_future(asyncio.to_thread(self._inject, event))
            try:
                await asyncio.shield(self._in_flight)
            finally:
                self._queue.task_done()
            self._in_flight = None

    def _inject(self, event: InputEvent) -> None:
        try:
            self._injector.inject(event)
            self.injected += 1
        except InjectionError:
            self.failed += 1
            log.warning("input not injected", exc_info=True)
        except Exception:  # a bug for one event must not stop the session's input
            self.failed += 1
            log.exception("input not injected")
