"""One viewer's WebRTC session on the host: a send-only screen track and the `input` channel.

The browser offers (it opens the `input` data channel); the agent answers with one send-only
video stream and accepts exactly one data channel labelled ``input``. Anything else the
browser opens is closed at once. Input messages are validated against the screen size and
injected; invalid ones are dropped, counted and logged, never injected.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription, candidate_from_sdp

from host_agent.capture import ScreenGeometry
from host_agent.injection import Injector
from host_agent.input_events import InvalidInput, PointerButton, PointerMove, Wheel, parse_input
from host_agent.screen_track import Codec, ScreenTrack, attach_keyframe_requests

log = logging.getLogger(__name__)

INPUT_CHANNEL: Final = "input"
# Logging every bad message would let a hostile page fill the disk; log the first few.
MAX_LOGGED_INVALID: Final = 20


@dataclass
class InputStats:
    injected: int = 0
    invalid: int = 0
    refused_channels: int = 0


@dataclass(frozen=True)
class StreamSettings:
    display: str | None
    fps: int = 30
    bitrate: int = 4_000_000


def _negotiated_codec(answer_sdp: str) -> Codec:
    """The codec the answer will send: the first non-RTX codec of the video m-line."""
    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind != "video":
            continue
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() == "video/h264":
                return Codec.H264
            if codec.mimeType.lower() == "video/vp8":
                return Codec.VP8
    raise ValueError("the viewer offered no video codec the agent can send (H.264 or VP8)")


def _preferred_codecs() -> list[RTCRtpCodecCapability]:
    """H.264 first (our tuned x264), VP8 as fallback, RTX kept for loss repair."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    rank = {"video/h264": 0, "video/vp8": 1, "video/rtx": 2}
    return sorted(codecs, key=lambda c: rank.get(c.mimeType.lower(), 3))


class PeerSession:
    """The WebRTC side of one session; ``on_ended`` is called once when it ends by itself."""

    def __init__(
        self,
        session_id: str,
        stream: StreamSettings,
        injector: Injector,
        on_ended: Callable[[str], Awaitable[None]],
    ) -> None:
        self.session_id = session_id
        self.input_stats = InputStats()
        # Host candidates only; TURN arrives with the trust issue's credentials.
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._stream = stream
        self._injector = injector
        self._on_ended = on_ended
        self._track: ScreenTrack | None = None
        self._geometry: ScreenGeometry | None = None
        self._input_channel: RTCDataChannel | None = None
        self._closed = False
        self._pc.on("datachannel", self._on_datachannel)
        self._pc.on("connectionstatechange", self._on_connection_state)

    @property
    def track(self) -> ScreenTrack | None:
        return self._track

    async def answer(self, offer_sdp: str) -> str:
        """Apply the viewer's offer and return our answer SDP."""
        track = ScreenTrack(
            self._stream.display, Codec.H264, self._stream.fps, self._stream.bitrate
        )
        self._track = track
        self._geometry = await track.geometry()
        transceiver = self._pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(_preferred_codecs())
        attach_keyframe_requests(transceiver.sender, track)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        answer = await self._pc.createAnswer()
        track.codec = _negotiated_codec(answer.sdp)
        await self._pc.setLocalDescription(answer)
        log.info("session %s: answering with %s", self.session_id, track.codec.value)
        return str(self._pc.localDescription.sdp)

    async def add_candidate(self, candidate: str, sdp_mid: str | None, index: int | None) -> None:
        """Add a trickled remote candidate; an empty one marks the end of candidates."""
        if not candidate:
            return  # aiortc gathers nothing more from an end-of-candidates marker
        parsed = candidate_from_sdp(candidate.split(":", 1)[1])
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = index
        await self._pc.addIceCandidate(parsed)

    async def close(self) -> None:
        """End the session: release held input, stop the track, close the peer connection."""
        if self._closed:
            return
        self._closed = True
        self._injector.release_all()
        # The peer connection first: its sender stops asking the track for frames, then the
        # track's encode thread can shut down without a frame in flight.
        await self._pc.close()
        if self._track is not None:
            self._track.stop()
        log.info(
            "session %s closed: %d input events injected, %d invalid dropped",
            self.session_id,
            self.input_stats.injected,
            self.input_stats.invalid,
        )

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != INPUT_CHANNEL or self._input_channel is not None:
            # Only one channel exists in this product: clipboard or file channels have no
            # code behind them, and any other label is refused outright.
            self.input_stats.refused_channels += 1
            log.warning("session %s: refused data channel %r", self.session_id, channel.label)
            channel.close()
            return
        self._input_channel = channel
        channel.on("message", self._on_input)

    def _on_input(self, message: str | bytes) -> None:
        geometry = self._geometry
        if geometry is None:
            return
        try:
            event = parse_input(message, geometry.width, geometry.height)
        except InvalidInput as exc:
            self.input_stats.invalid += 1
            if self.input_stats.invalid <= MAX_LOGGED_INVALID:
                log.warning("session %s: dropped input: %s", self.session_id, exc)
            return
        # The video shows the captured monitor; the display's coordinates are offset by it.
        if isinstance(event, PointerMove | PointerButton | Wheel):
            event = dataclasses.replace(event, x=event.x + geometry.left, y=event.y + geometry.top)
        self._injector.inject(event)
        self.input_stats.injected += 1

    async def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        log.info("session %s: peer connection %s", self.session_id, state)
        if state in {"failed", "closed"} and not self._closed:
            await self.close()
            await self._on_ended("peer_" + state)


async def close_quietly(session: PeerSession | None) -> None:
    """Close a session, logging rather than raising: used on teardown paths."""
    if session is None:
        return
    try:
        await session.close()
    except Exception:
        log.exception("session %s: error while closing", session.session_id)
