"""The cursor watcher on a real Xvfb: a still pointer is polled slowly, a move is still sent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable

import pytest

from devkit.display import XvfbDisplay
from host_agent.video.capture import ScreenGeometry
from host_agent.video.cursor import POLL_HZ, REST_POLL_S, STILL_AFTER_S, CursorWatcher

pytestmark = pytest.mark.display


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.02)


async def test_a_still_pointer_is_polled_at_rest_and_its_next_move_is_sent(
    xvfb: XvfbDisplay,
) -> None:
    messages: list[dict[str, object]] = []
    geometry = ScreenGeometry(0, 0, xvfb.width, xvfb.height)
    watcher = CursorWatcher(
        xvfb.name, geometry, asyncio.get_running_loop(), lambda m: messages.append(json.loads(m))
    )
    watcher.start()
    try:
        # Nobody moves the pointer: after STILL_AFTER_S the watcher looks only every
        # REST_POLL_S, not at POLL_HZ.
        await _until(lambda: watcher.next_poll_s == REST_POLL_S, STILL_AFTER_S + 10)
        assert REST_POLL_S >= 5 / POLL_HZ
        await asyncio.to_thread(
            subprocess.run, ["xdotool", "mousemove", "321", "234"], env=xvfb.env(), check=True
        )

        def moved() -> bool:
            return any(m.get("x") == 321 and m.get("y") == 234 for m in messages)

        await _until(moved, 10)
        # The poll that found the move chose the full rate for the moves that follow.
        assert watcher.next_poll_s == 1 / POLL_HZ
    finally:
        watcher.close()
