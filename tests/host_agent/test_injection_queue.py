"""The injection queue: one session's input injected in order, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from host_agent.errors import InjectionError
from host_agent.input.events import InputEvent, Key, ReleaseAll, Text
from host_agent.input.injection_queue import InjectionQueue

pytestmark = pytest.mark.unit


class SlowInjector:
    """Records events; text takes a while (as kanji do on X11); flags overlapping calls."""

    def __init__(self, text_s: float = 0.05) -> None:
        self.text_s = text_s
        self.events: list[InputEvent | str] = []
        self.overlap = False
        self.threads: set[int] = set()
        self._busy = threading.Lock()
        self.fail_on: InputEvent | None = None

    def inject(self, event: InputEvent) -> None:
        if not self._busy.acquire(blocking=False):
            self.overlap = True
            return
        try:
            self.threads.add(threading.get_ident())
            if isinstance(event, Text):
                time.sleep(self.text_s)
            if event == self.fail_on:
                raise InjectionError("display gone")
            self.events.append(event)
        finally:
            self._busy.release()

    def release_all(self) -> None:
        self.inject(ReleaseAll())
        self.events[-1] = "released"

    def close(self) -> None:
        pass


async def test_text_and_keys_keep_their_order_without_blocking_the_loop() -> None:
    """Enter sent after a slow text is injected after it, one call at a time, and the event
    loop stays free meanwhile (a tick runs while the text is typed)."""
    injector = SlowInjector()
    queue = InjectionQueue(injector)
    enter = Key("Enter", "Enter", True)
    queue.put(Text("患者"))
    queue.put(enter)
    queue.put(Text("様"))
    ticks = 0
    while not queue.idle and ticks < 1000:
        ticks += 1
        await asyncio.sleep(0.001)
    await queue.drain()
    assert injector.events == [Text("患者"), enter, Text("様")]
    assert ticks > 5
    assert not injector.overlap
    assert threading.get_ident() not in injector.threads
    await queue.close()
    assert injector.events[-1] == "released"


async def test_close_waits_for_the_call_in_flight_then_releases() -> None:
    """Closing mid-text drops what is still queued, lets the text in flight finish, and
    only then releases held input (never two calls into the injector at once)."""
    injector = SlowInjector(text_s=0.2)
    queue = InjectionQueue(injector)
    queue.put(Text("一"))
    queue.put(Text("二"))
    await asyncio.sleep(0.05)
    await queue.close()
    assert injector.events == [Text("一"), "released"]
    assert not injector.overlap
    assert not queue.put(Key("KeyA", "a", True))


async def test_a_full_queue_drops_and_a_failed_event_does_not_stop_the_rest() -> None:
    """Past its limit the queue drops (counted); an injection error is counted and the
    events after it are still injected."""
    injector = SlowInjector(text_s=0.01)
    injector.fail_on = Key("KeyB", "b", True)
    queue = InjectionQueue(injector, limit=3)
    results = [
        queue.put(event)
        for event in (
            Text("x"),
            Key("KeyB", "b", True),
            Key("KeyC", "c", True),
            Key("KeyD", "d", True),
        )
    ]
    assert results == [True, True, True, False]
    await queue.drain()
    assert (queue.dropped, queue.failed, queue.injected) == (1, 1, 2)
    assert injector.events == [Text("x"), Key("KeyC", "c", True)]
    await queue.close()
