"""Sends lossless tiles of settled regions (``lossless_tiles.py``) on the ``input`` channel.

- **Invalidations at once**: the track reports every capture that changed something
  (``note_change``); the invalidate message it carries is sent right away, whatever the
  budget: a stale tile over changed video is the one thing the overlay must never show.
- **Tiles when due, within a byte budget**: a share (``TILE_SHARE``) of the link's bitrate
  (the congestion controller's estimate, or what the pacer's trains passed unspread while
  the bottleneck is unknown and that is more, or the REMB-led target), as a token bucket holding
  at most ``BURST_S`` of it (full at the start). Not the encoder's target: that is cut to
  a tenth while the pacer drains a large frame, and a bucket capped by it lost its banked
  bytes at every page switch (the tiles of a screen of text then waited ~1.2 s).
  Encoding runs on the track's encode thread (the picture lives there),
  ``MAX_TURN_BYTES`` at a time so that frames are not held up.
- **Behind the cursor**: tiles wait while the channel holds more than ``MAX_BACKLOG``
  bytes: the cursor's messages share the channel and are dropped above 64 KiB of backlog.
  The channel's ``bufferedamountlow`` (at that threshold) wakes the sender as soon as it
  has drained (``wake``); polled every ``BACKLOG_POLL_S`` alone, a 563 kB radiograph's
  tiles went 32 KiB per poll, about 0.4 s on a link that takes them in a tenth of that.
- **Behind the video**: tiles wait while the pacer holds more than ``MAX_VIDEO_QUEUE_S`` of
  video (keeping what the bucket banked): a tile is the lowest priority on the link. Sent
  beside a large frame they shared a narrow link's queue with it: on the emulated 2 Mbit/s
  link (a ~50 kB queue) two 36 kB tiles right after each 40-60 kB frame overflowed it, and
  the picture stalled for most of a second (the network test's narrow phase).

The loop sleeps until the next block is due, the budget refills, or a change arrives: on a
static screen whose tiles are all sent it does nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Final, Protocol

log = logging.getLogger(__name__)

# Tiles go when their region is quiet, so the video beside them spends little then; but
# the target itself is app-limited on a settled screen (1.5-1.9 Mbit/s measured on
# loopback: the estimator only climbs while the video sends much), so the share is large
# and the burst covers a paragraph's or a small image's blocks at once.
TILE_SHARE: Final = 0.75
BURST_S: Final = 2.0
MAX_BACKLOG: Final = 16 * 1024
# A send is not worth waking for below this (a typical text block is ~10-20 KB).
MIN_ALLOWANCE: Final = 16 * 1024
# Encoded per turn at most (~6-8 ms of WebP on the encode thread, ~6 blocks of text): a
# frame waiting behind a whole screen of tiles (~80 ms at 720p) would stutter.
MAX_TURN_BYTES: Final = 32 * 1024
BACKLOG_POLL_S: Final = 0.02
# The pacer queue the encoder's target ignores (congestion_control.PUSHBACK_FREE_S).
MAX_VIDEO_QUEUE_S: Final = 0.05
MIN_SLEEP_S: Final = 0.01


class TileSource(Protocol):
    """What the sender needs of the track (``ScreenTrack``)."""

    @property
    def link_bitrate(self) -> int: ...

    @property
    def video_queued_s(self) -> float: ...

    async def take_tiles(self, allowance: int) -> tuple[list[bytes], float | None]: ...


class ByteBudget:
    """A token bucket in bytes: ``share`` of a bitrate that may change at any time."""

    def __init__(self, now: float, share: float = TILE_SHARE, burst_s: float = BURST_S) -> None:
        self.share = share
        self.burst_s = burst_s
        self.tokens = math.inf  # full at the start (the first refill caps it)
        self._at = now

    def rate(self, bitrate: int) -> float:
        return self.share * bitrate / 8

    def refill(self, now: float, bitrate: int) -> float:
        rate = self.rate(bitrate)
        capacity = max(rate * self.burst_s, float(MIN_ALLOWANCE))
        self.tokens = min(capacity, self.tokens + rate * max(0.0, now - self._at))
        self._at = now
        return self.tokens

    def spend(self, size: int) -> None:
        self.tokens -= size  # may go below zero by one message: paid back before the next

    def ready_in(self, bitrate: int, need: float) -> float:
        """Seconds until ``need`` tokens are there (from the last refill)."""
        rate = self.rate(bitrate)
        if rate <= 0:
            return 1.0
        return max(0.0, (need - self.tokens) / rate)


class TileSender:
    """One session's tile stream: ``note_change`` from the track, ``close`` at the end."""

    def __init__(
        self, source: TileSource, send: Callable[[bytes], None], backlog: Callable[[], int]
    ) -> None:
        self._source = source
        self._send = send
        self._backlog = backlog
        self._budget = ByteBudget(time.monotonic())
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.tiles_sent = 0
        self.tile_bytes = 0
        self.invalidations_sent = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def note_change(self, invalidate: bytes | None) -> None:
        """A capture changed the picture; ``invalidate`` drops tiles the viewer shows."""
        if invalidate is not None:
            try:
                self._send(invalidate)
                self.invalidations_sent += 1
            except Exception:  # the channel is closing: the session's end handles it
                log.debug("tile invalidation not sent", exc_info=True)
        self._wake.set()

    async def _sleep(self, seconds: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            if seconds is None:
                await self._wake.wait()
            else:
                async with asyncio.timeout(max(MIN_SLEEP_S, seconds)):
                    await self._wake.wait()

    async def _run(self) -> None:
        try:
            while True:
                await self._turn()
        except asyncio.CancelledError:
            raise
        except Exception:
            # No tiles from here on: the video alone still shows everything.
            log.exception("lossless tiles stopped")

    def wake(self) -> None:
        """The channel has drained (its ``bufferedamountlow``): look again now."""
        self._wake.set()

    async def _turn(self) -> None:
        if self._backlog() > MAX_BACKLOG or self._source.video_queued_s > MAX_VIDEO_QUEUE_S:
            # The pacer's queue has no event: polled; the channel's wakes the sleep early.
            await self._sleep(BACKLOG_POLL_S)
            return
        bitrate = self._source.link_bitrate
        tokens = self._budget.refill(time.monotonic(), bitrate)
        if tokens < MIN_ALLOWANCE:
            await self._sleep(self._budget.ready_in(bitrate, MIN_ALLOWANCE))
            return
        messages, next_due = await self._source.take_tiles(int(min(tokens, MAX_TURN_BYTES)))
        for message in messages:
            self._send(message)
            self._budget.spend(len(message))
            self.tiles_sent += 1
            self.tile_bytes += len(message)
        if messages:
            return  # more may be due: the next turn looks at the backlog and budget first
        await self._sleep(None if next_due is None else next_due - time.monotonic())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def attach_tiles(track: object, channel: object) -> TileSender | None:
    """A sender for ``track``'s tiles on ``channel`` (an aiortc ``RTCDataChannel``), started
    when the channel is open; None when the track sends no tiles."""
    from aiortc import RTCDataChannel

    from host_agent.video.screen_track import ScreenTrack

    if not isinstance(track, ScreenTrack) or not isinstance(channel, RTCDataChannel):
        return None
    if not track.lossless_tiles:
        return None

    def send(message: bytes) -> None:
        if channel.readyState == "open":
            channel.send(message)

    sender = TileSender(track, send, lambda: int(channel.bufferedAmount))
    track.tile_sink = sender.note_change
    channel.bufferedAmountLowThreshold = MAX_BACKLOG
    channel.on("bufferedamountlow", sender.wake)
    if channel.readyState == "open":
        sender.start()
    else:
        channel.on("open", sender.start)
    return sender
