"""The video track aiortc sends: captured, converted and encoded off the event loop.

For H.264 the track yields ready ``VideoPacket``s from our own x264 (aiortc only packetizes
them). For the VP8 fallback it yields ``av.VideoFrame``s and aiortc encodes them.

aiortc ignores PLI/FIR for pre-encoded tracks (it sets a flag only its own encoders read), so
``attach_keyframe_requests`` hooks the sender: a keyframe request from the browser becomes an
IDR from our encoder on the next frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import av
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from host_agent.capture import ScreenCapture, ScreenGeometry
from host_agent.encoder import VIDEO_TIME_BASE, FrameConverter, H264Encoder, VideoPacket

log = logging.getLogger(__name__)

MAX_FPS: Final = 60


class Codec(Enum):
    H264 = "video/H264"
    VP8 = "video/VP8"


@dataclass
class TrackStats:
    """Counters the agent logs and tests read."""

    frames: int = 0
    keyframes: int = 0
    keyframe_requests: int = 0
    last_encode_ms: float = 0.0


class _Pipeline:
    """Capture -> convert -> encode; lives entirely on the one encode thread."""

    def __init__(self, display: str | None, fps: int, bitrate: int) -> None:
        self.capture = ScreenCapture(display)
        self.converter = FrameConverter()
        self._fps = fps
        self._bitrate = bitrate
        self._encoder: H264Encoder | None = None

    def produce(self, codec: Codec, pts: int, keyframe: bool) -> list[VideoPacket] | av.VideoFrame:
        frame = self.converter.convert(self.capture.grab(), pts)
        if codec is Codec.VP8:
            return frame  # aiortc encodes VP8 itself
        if self._encoder is None:
            # Created on first use: the codec is only known once the answer is made.
            geometry = self.capture.geometry
            self._encoder = H264Encoder(geometry.width, geometry.height, self._fps, self._bitrate)
        return self._encoder.encode(frame, keyframe)

    def close(self) -> None:
        self.capture.close()


class ScreenTrack(MediaStreamTrack):
    """A send-only video track of the host's screen."""

    kind = "video"

    def __init__(
        self, display: str | None, codec: Codec, fps: int = 30, bitrate: int = 4_000_000
    ) -> None:
        super().__init__()
        if not 1 <= fps <= MAX_FPS:
            raise ValueError(f"fps must be 1..{MAX_FPS}")
        self.codec = codec
        self.stats = TrackStats()
        self._fps = fps
        # Decided by negotiation (PeerSession sets it before the first frame is asked for).
        # One dedicated thread: mss and the encoder are not thread-safe, and encoding must
        # never block the event loop that carries signaling, RTP and input.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mamori-encode")
        self._pipeline: _Pipeline | None = None
        self._display = display
        self._bitrate = bitrate
        self._keyframe_requested = True  # the first frame is always a keyframe
        self._start = time.monotonic()
        self._next_at = self._start
        self._pending: list[VideoPacket] = []

    async def geometry(self) -> ScreenGeometry:
        """The captured area (opens the capture on the encode thread if needed)."""
        pipeline = await self._open()
        return pipeline.capture.geometry

    def request_keyframe(self) -> None:
        """The receiver lost the picture (PLI/FIR): the next frame will be an IDR."""
        self.stats.keyframe_requests += 1
        self._keyframe_requested = True

    async def recv(self) -> VideoPacket | av.VideoFrame:
        if self._pending:
            return self._pending.pop(0)
        pipeline = await self._open()
        loop = asyncio.get_running_loop()
        while True:
            await self._pace()
            if self.readyState != "live":
                raise MediaStreamError  # stopped while waiting: aiortc ends its loop quietly
            pts = int((time.monotonic() - self._start) / VIDEO_TIME_BASE)
            keyframe, self._keyframe_requested = self._keyframe_requested, False
            started = time.perf_counter()
            result = await loop.run_in_executor(
                self._executor, pipeline.produce, self.codec, pts, keyframe
            )
            self.stats.last_encode_ms = (time.perf_counter() - started) * 1000
            self.stats.frames += 1
            if isinstance(result, av.VideoFrame):
                return result
            if not result:
                continue  # the encoder held the frame back; x264 zerolatency never should
            if any(p.is_keyframe for p in result):
                self.stats.keyframes += 1
            self._pending.extend(result[1:])
            return result[0]

    def stop(self) -> None:
        super().stop()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            self._executor.submit(pipeline.close)
        self._executor.shutdown(wait=False)

    async def _open(self) -> _Pipeline:
        if self.readyState != "live":
            raise MediaStreamError
        if self._pipeline is None:
            loop = asyncio.get_running_loop()
            self._pipeline = await loop.run_in_executor(
                self._executor, _Pipeline, self._display, self._fps, self._bitrate
            )
        return self._pipeline

    async def _pace(self) -> None:
        now = time.monotonic()
        if self._next_at > now:
            await asyncio.sleep(self._next_at - now)
            self._next_at += 1 / self._fps
        else:
            # Behind schedule (slow encode): start afresh rather than burst to catch up.
            self._next_at = now + 1 / self._fps


def attach_keyframe_requests(sender: RTCRtpSender, track: ScreenTrack) -> None:
    """Route the sender's PLI/FIR handling to our encoder as well as aiortc's own flag.

    aiortc calls ``sender._send_keyframe()`` when a PLI or FIR arrives; for pre-encoded
    packets that flag is never read. Wrapping the bound method on this one sender keeps
    aiortc's behaviour (VP8 fallback still uses it) and adds ours.
    """
    original = sender._send_keyframe

    def send_keyframe(*args: Any, **kwargs: Any) -> None:
        track.request_keyframe()
        original(*args, **kwargs)

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]  # the hook itself
