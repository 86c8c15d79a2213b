"""What the receiver says about the video, routed to our track: PLI/FIR and REMB.

aiortc acts on keyframe requests and REMB only for encoders it owns: for pre-encoded packets
it sets a flag nobody reads and drops the estimate. These hooks wrap the two methods of one
``RTCRtpSender`` so that aiortc's behaviour stays (its VP8 fallback still uses it) and ours
is added:

- a PLI or FIR becomes an IDR from our encoder on the next frame;
- a REMB (receiver estimated maximum bitrate) becomes the byte budget of ``rate_control``,
  capped by the configured maximum: a number changes, no encoder is rebuilt.

NACKs need nothing from us: aiortc keeps the packets it sent and retransmits them on RTX.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

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


def attach_feedback(sender: RTCRtpSender, track: FeedbackTarget) -> None:
    """Route ``sender``'s keyframe requests and REMB reports to ``track`` as well."""
    send_keyframe = sender._send_keyframe
    handle_rtcp = sender._handle_rtcp_packet

    def on_keyframe_request(*args: Any, **kwargs: Any) -> None:
        track.request_keyframe()
        send_keyframe(*args, **kwargs)

    async def on_rtcp(packet: Any) -> None:
        bitrate = remb_bitrate(packet, sender._ssrc)
        if bitrate is not None:
            track.set_estimated_bitrate(bitrate)
        await handle_rtcp(packet)

    # The hooks themselves: bound methods replaced on this one sender only.
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
    sender._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]
