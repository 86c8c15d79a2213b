"""The video track aiortc sends: change-driven capture, encoded off the event loop.

The loop (``ScreenTrack.recv``, on the event loop) asks ``FrameScheduler`` for the next plan,
waits for its moment or for news (XDamage drawing, a keyframe request), takes the damage hint
and hands the plan to the encode thread (``EncodePipeline.produce``, ``encode_pipeline.py``):
grab the damaged rectangle, keep the tiles that really changed, convert their bands, choose
the quantizer within the byte budget, encode. For H.264 the track yields ready
``VideoPacket``s from our own x264 (aiortc only packetizes them); for the VP8 fallback it
yields ``av.VideoFrame``s and aiortc encodes.

One dedicated encode thread: mss and x264 are not thread-safe, and encoding must never block
the event loop that carries signaling, RTP and input.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from host_agent.video.capture import ScreenGeometry
from host_agent.video.damage import ChangeMonitor
from host_agent.video.encode_pipeline import Codec, EncodePipeline, Produced
from host_agent.video.encoder import VIDEO_TIME_BASE, VideoPacket
from host_agent.video.lossless_tiles import BlockTracker
from host_agent.video.rate_control import BitrateTarget
from host_agent.video.scheduler import FrameScheduler, Pacing, Plan
from host_agent.video.sources import CaptureBackend, DisplayCapture, FrameSource
from host_agent.video.track_stats import STATS_LOG_S, TrackStats
from host_agent.video.watermark import WatermarkIdentity

log = logging.getLogger(__name__)

MAX_FPS: Final = 60
# Our x264 sharpens a settled picture with one refinement frame; aiortc's VP8 encoder (the
# fallback) only over many frames of its own rate control, so a still screen gets frames
# this often with VP8 (empty P frames, tens of bytes).
VP8_KEEPALIVE_S: Final = 0.1


class ScreenTrack(MediaStreamTrack):
    """A send-only video track of the host's screen."""

    kind = "video"

    def __init__(
        self,
        display: str | None,
        codec: Codec,
        fps: int = MAX_FPS,
        bitrate: int = 8_000_000,
        pacing: Pacing | None = None,
        watermark: WatermarkIdentity | None = None,
        capture: CaptureBackend | None = None,
        lossless_tiles: bool = False,
    ) -> None:
        """A track of ``display``'s screen, or of what ``capture`` gives (another system's
        capture, e.g. Windows' Desktop Duplication; default: X11 on ``display``);
        ``lossless_tiles``: settled blocks also go out as PNG (``tile_sender.py``)."""
        super().__init__()
        self.lossless_tiles = lossless_tiles
        self._overlay_works = False
        # Told of every capture that changed something (the tile sender's note_change).
        self.tile_sink: Callable[[bytes | None], None] | None = None
        self._generation = 0  # of the capture: a new one per (re)opened pipeline
        self._capture: CaptureBackend = capture or DisplayCapture(display)
        self._watermark = watermark
        if not 1 <= fps <= MAX_FPS:
            raise ValueError(f"fps must be 1..{MAX_FPS}")
        self._codec = codec
        self.stats = TrackStats(target_bitrate=bitrate)
        # The congestion controller's estimate of the link (None: REMB leads the target).
        self._link_bitrate: int | None = None
        self._video_queued_s = 0.0  # what the pacer held at the last estimate
        self.max_bitrate = bitrate
        self._pacing = pacing or Pacing(max_fps=fps, small_fps=min(fps, Pacing().small_fps))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mamori-encode")
        self._pipeline: EncodePipeline | None = None
        self._monitor: ChangeMonitor | None = None
        self._scheduler: FrameScheduler | None = None
        self._target = BitrateTarget(bitrate)
        self._wake = asyncio.Event()
        self._start = time.monotonic()
        self._logged_at = self._start
        self._pending: list[VideoPacket] = []
        self._opening = asyncio.Lock()

    @property
    def scheduler(self) -> FrameScheduler | None:
        return self._scheduler

    @property
    def codec(self) -> Codec:
        return self._codec

    @codec.setter
    def codec(self, codec: Codec) -> None:
        """Set by negotiation, after the capture (and its scheduler) may have started."""
        self._codec = codec
        if self._scheduler is not None:
            self._scheduler.pacing = self._pacing_for(codec)

    def _pacing_for(self, codec: Codec) -> Pacing:
        if codec is Codec.VP8:
            return dataclasses.replace(self._pacing, keepalive_s=VP8_KEEPALIVE_S)
        return self._pacing

    @property
    def source(self) -> FrameSource | None:
        """Where the pixels come from, once the capture is open."""
        return None if self._pipeline is None else self._pipeline.capture

    async def geometry(self) -> ScreenGeometry:
        """The captured area (opens the capture on the encode thread if needed)."""
        pipeline = await self._open()
        return pipeline.capture.geometry

    async def reopen(self) -> ScreenGeometry:
        """Capture anew from the backend (the viewer chose another monitor): a new picture,
        encoder and change monitor at the new size, starting with a keyframe.

        The old pipeline is closed on the encode thread after any frame it is producing;
        ``recv`` notices the new one at its next turn.
        """
        async with self._opening:
            pipeline, self._pipeline = self._pipeline, None
            monitor, self._monitor = self._monitor, None
            self._scheduler = None
            if monitor is not None:
                monitor.close()
            if pipeline is not None:
                self._executor.submit(pipeline.close)
        self._pending.clear()  # packets of the old picture's size
        opened = await self._open()
        self._wake.set()
        return opened.capture.geometry

    def request_keyframe(self) -> None:
        """The receiver lost the picture (PLI/FIR): the next frame will be an IDR."""
        self.stats.keyframe_requests += 1
        if self._scheduler is not None:
            self._scheduler.request_keyframe()
        self._wake.set()

    def set_estimated_bitrate(self, bitrate: int) -> None:
        """A receiver estimate (REMB): the byte budget follows it, up to the maximum."""
        self.stats.remb_reports += 1
        before = self._target.value
        target = self._target.on_remb(bitrate, time.monotonic())
        if target < before:
            log.info("REMB %d kbit/s: target bitrate down to %d kbit/s", bitrate // 1000,
                     target // 1000)  # fmt: skip
        self.stats.target_bitrate = target

    def set_target_bitrate(
        self, bitrate: int, link_bitrate: int | None = None, queued_s: float = 0.0
    ) -> None:
        """The sender's congestion estimate (transport-cc): the byte budget follows it from
        the next frame on (a number changes, no encoder is rebuilt); REMB is ignored since.
        ``link_bitrate``: the estimate of the link before the encoder's share was cut for
        the pacer's queue (``congestion_control.encoder_target``); ``queued_s``: that queue,
        in seconds at the estimate."""
        self.stats.target_bitrate = self._target.on_estimate(bitrate)
        self._link_bitrate = link_bitrate
        self._video_queued_s = queued_s

    @property
    def video_queued_s(self) -> float:
        """Seconds of video the pacer held at the last congestion estimate (0 without one)."""
        return self._video_queued_s

    @property
    def target_bitrate(self) -> int:
        return self._target.current(time.monotonic())

    @property
    def link_bitrate(self) -> int:
        """What the link carries by the congestion controller's estimate, or the REMB-led
        target without one. Not the encoder's target: while the pacer holds a large frame
        that is cut to a tenth (the floor, 150 kbit/s, at a page switch), which is the
        video's own queue draining, not a narrower link."""
        if self._link_bitrate is not None:
            return min(self.max_bitrate, self._link_bitrate)
        return self.target_bitrate

    @property
    def tile_overlay_works(self) -> bool:
        return self._overlay_works

    @tile_overlay_works.setter
    def tile_overlay_works(self, works: bool) -> None:
        """The viewer said whether it draws the lossless tiles: if it does, the video no
        longer refines what they cover (``BlockTracker.refinement_held``)."""
        self._overlay_works = works
        if self._pipeline is not None:
            self._pipeline.overlay_works = works

    async def take_tiles(self, allowance: int) -> tuple[list[bytes], float | None]:
        """Encode due lossless tiles on the encode thread (see ``EncodePipeline.take_tiles``)."""
        pipeline = self._pipeline
        if pipeline is None:
            return [], None
        scheduler = self._scheduler
        pending = scheduler is not None and scheduler.change_pending
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, pipeline.take_tiles, allowance, pending)

    def note_input(self) -> None:
        """The viewer is steering the screen: show the effects at the full frame rate."""
        if self._scheduler is not None:
            self._scheduler.note_input(time.monotonic())

    def _on_change(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None and not scheduler.change_pending:
            scheduler.note_change()
            self._wake.set()

    async def recv(self) -> VideoPacket | av.VideoFrame:
        if self._pending:
            return self._pending.pop(0)
        pipeline = await self._open()
        scheduler, monitor = self._scheduler, self._monitor
        if scheduler is None or monitor is None:  # closed between _open and here
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError  # stopped while waiting: aiortc ends its loop quietly
            if pipeline is not self._pipeline:  # reopened on another monitor
                pipeline = await self._open()
                scheduler, monitor = self._scheduler, self._monitor
                if scheduler is None or monitor is None:
                    raise MediaStreamError
            now = time.monotonic()
            scheduler.polling = scheduler.polling or monitor.polling  # notifications lost
            plan = scheduler.plan(now)
            if plan.at > now:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation that lands as the wake-up comes, and aiortc's sender then
                # waits forever for this loop to end (seen when a banner redraw woke it).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(plan.at - now):
                        await self._wake.wait()
                continue  # plan again: a change or a keyframe request may have come in
            region = None
            if plan.capture:
                # Cleared before the grab: drawing during the capture plans another one.
                scheduler.change_pending = False
                region = monitor.take()
            pts = int((now - self._start) / VIDEO_TIME_BASE)
            started = time.perf_counter()
            produced = await loop.run_in_executor(
                self._executor, pipeline.produce, self.codec, plan, region, pts,
                self._target.current(now),
            )  # fmt: skip
            done = time.monotonic()
            self.stats.last_encode_ms = (time.perf_counter() - started) * 1000
            self.stats.encoder_builds = pipeline.encoder_builds
            self.stats.scrolls = pipeline.scrolls
            if plan.capture:
                # Paced from when the capture started: the frame interval includes the
                # time spent encoding, not added to it.
                scheduler.captured(now, produced.changed)
                self.stats.captures += 1
            if produced.refine_retry_at is not None:
                scheduler.defer_refinement(produced.refine_retry_at)
            if self.tile_sink is not None and produced.changed.any():
                self.tile_sink(produced.invalidate)
            if produced.output is None:
                if plan.capture:
                    self.stats.captures_unchanged += 1
                continue
            # What was refined may be part of what was planned (the budget decides).
            sent_plan = dataclasses.replace(
                plan, refine=produced.refined is not None, refine_mask=produced.refined
            )
            scheduler.sent(done, sent_plan)
            scheduler.defer(produced.ready_at)
            self._count(plan, produced)
            if isinstance(produced.output, av.VideoFrame):
                return produced.output
            if not produced.output:
                continue  # the encoder held the frame back; x264 zerolatency never should
            self._pending.extend(produced.output[1:])
            return produced.output[0]

    def _count(self, plan: Plan, produced: Produced) -> None:
        now = time.monotonic()
        if now - self._logged_at >= STATS_LOG_S:
            self._logged_at = now
            self.stats.log()
        refined, changed = produced.refined is not None, bool(produced.changed.any())
        self.stats.count_frame(plan, produced.qp, refined, changed)

    def stop(self) -> None:
        super().stop()
        self._wake.set()
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.close()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            self._executor.submit(pipeline.close)
        self._executor.shutdown(wait=False)

    async def _open(self) -> EncodePipeline:
        if self.readyState != "live":
            raise MediaStreamError
        async with self._opening:
            return await self._open_locked()

    async def _open_locked(self) -> EncodePipeline:
        if self._pipeline is None:
            loop = asyncio.get_running_loop()
            pipeline = await loop.run_in_executor(
                self._executor, EncodePipeline, self._capture.open_source, self._pacing.max_fps,
                self._target.maximum, self._watermark,
            )  # fmt: skip
            picture = pipeline.picture
            if self.lossless_tiles:
                self._generation += 1
                pipeline.tiles = BlockTracker(picture.width, picture.height, self._generation)
                pipeline.overlay_works = self._overlay_works
            self._scheduler = FrameScheduler(
                picture.tile_rows, picture.tile_cols, self._pacing_for(self._codec)
            )
            self._monitor = self._capture.open_monitor(pipeline.capture, loop)
            self._scheduler.polling = self._monitor.polling
            self._monitor.start(self._on_change)
            self._pipeline = pipeline
        return self._pipeline
