"""What the receiver says about the video, routed to our track: PLI/FIR and REMB.

aiortc acts on keyframe requests and REMB only for encoders it owns: for pre-encoded packets
it sets a flag nobody reads and drops the estimate. These hooks wrap the two methods of one
``RTCRtpSender`` so that aiortc's behaviour stays (its VP8 fallback still uses it) and ours
is added:

- a PLI or FIR becomes an IDR from our encoder on the next frame, at most one per interval
  (``keyframe_limiter.py``): a request inside it is answered once, at its end;
- a REMB (receiver estimated maximum bitrate) becomes the byte budget of ``rate_control``,
  capped by the configured maximum: a number changes, no encoder is rebuilt.

NACKs are aiortc's: it retransmits on RTX from the history ``retransmission.py`` gives it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from host_agent.webrtc.keyframe_limiter import KeyframeLimiter
from host_agent.webrtc.retransmission import sender_round_trip

log = logging.getLogger(__name__)


class FeedbackTarget(Protocol):
    def request_keyframe(self) -> None: ...

    def set_estimated_bitrate(self, bitrate: int) -> None: ...


def remb_bitrate(packet: object, ssrc: int) -> int | None:
    """The bitrate of a REMB packet that covers ``ssrc``; None for anything else."""
    if not isinstance(packet, RtcpPsfbPacket) or packet.fmt != RTCP_PSFB_APP:
        return None
    try:
        bitrate, ssrcs = unpack_remb_fci(packet.fci)
    except ValueError:
        return None  # another application-layer feedback, or a malformed one
    return int(bitrate) if ssrc in ssrcs else None


def attach_feedback(
    sender: RTCRtpSender, track: FeedbackTarget, limiter: KeyframeLimiter | None = None
) -> KeyframeLimiter:
    """Route ``sender``'s keyframe requests (rate-limited) and REMB reports to ``track``
    as well; returns the limiter (its counters)."""
    send_keyframe = sender._send_keyframe
    handle_rtcp = sender._handle_rtcp_packet
    limiter = limiter or KeyframeLimiter()
    round_trip = sender_round_trip(sender)

    def make_keyframe() -> None:
        track.request_keyframe()
        send_keyframe()

    def owed() -> None:
        if limiter.due(time.monotonic()):
            make_keyframe()

    def on_keyframe_request(*args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        at = limiter.request(now, round_trip())
        if at is None:
            return  # one is owed already
        if at <= now:
            make_keyframe()
        else:
            log.debug("keyframe request within %.2f s of the last IDR: one owed", at - now)
            asyncio.get_running_loop().call_later(at - now, owed)

    async def on_rtcp(packet: Any) -> None:
        bitrate = remb_bitrate(packet, sender._ssrc)
        if bitrate is not None:
            track.set_estimated_bitrate(bitrate)
        await handle_rtcp(packet)

    # The hooks themselves: bound methods replaced on this one sender only.
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
    sender._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]
    return limiter
