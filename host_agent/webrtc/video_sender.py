"""The screen track's sender: how its transceiver is set up and what the answer negotiates.

Set up before the offer is applied (``prepare``): codec preferences (H.264 when x264 can be
loaded, VP8 otherwise), RTCP feedback (REMB, PLI through the keyframe limiter), a
retransmission history sized by time and bitrate, the playout-delay extension. After it
(``negotiate``): the H.264 level for the largest picture the viewer may choose, playout
delay if offered, transport-wide congestion control with its pacer and, with it, RED/ULPFEC
when the offer has them (``fec_sender``; off unless ``MAMORI_FEC`` says otherwise).
"""

from __future__ import annotations

import logging
import os
import time

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.sdp import SessionDescription

from host_agent.errors import EncoderError
from host_agent.video import x264
from host_agent.video.encode_pipeline import Codec
from host_agent.video.encoder import h264_level
from host_agent.video.screen_track import ScreenTrack
from host_agent.webrtc import congestion_control, fec_sender, negotiation, retransmission
from host_agent.webrtc.rtcp_feedback import attach_feedback

log = logging.getLogger(__name__)


def h264_available() -> bool:
    if os.environ.get("MAMORI_H264") == "0":  # VP8 only: the bench's FEC comparison
        log.info("H.264 disabled by MAMORI_H264=0, VP8 only")
        return False
    try:
        x264.load()
    except EncoderError as exc:
        log.warning("H.264 disabled, VP8 only: %s", exc)
        return False
    return True


def prepare(pc: RTCPeerConnection, track: ScreenTrack, bitrate: int) -> RTCRtpTransceiver:
    """The send-only transceiver of ``track``, set up before the offer is applied."""
    transceiver = pc.addTransceiver(track, direction="sendonly")
    transceiver.setCodecPreferences(negotiation.preferred_codecs(h264_available()))
    attach_feedback(transceiver.sender, track)
    # Packets kept for NACKs by time (>= 1 s) and bitrate, not aiortc's 128; a NACK for
    # one no longer kept asks for an IDR (through the limiter attach_feedback put in).
    sender = transceiver.sender

    def unrecoverable() -> None:
        log.info("retransmission: a NACKed packet is no longer kept: IDR asked for")
        sender._send_keyframe()

    retransmission.install(
        sender,
        retransmission.RetransmissionHistory(
            time.monotonic, bitrate, retransmission.sender_round_trip(sender), unrecoverable
        ),
    )
    negotiation.install_playout_delay(sender)
    return transceiver


def negotiate(
    transceiver: RTCRtpTransceiver,
    track: ScreenTrack,
    offer_sdp: str,
    largest: tuple[int, int],
    fps: int,
    bitrate: int,
    session_id: str,
) -> congestion_control.CongestionController | None:
    """After the offer is applied, before the answer is made: what the answer will say and
    the congestion controller (None when the offer has no transport-cc)."""
    negotiation.apply_level(transceiver, h264_level(*largest, fps))
    negotiation.accept_playout_delay(transceiver, _offered_video_extensions(offer_sdp))
    # transport-cc: pacer, transport-wide numbers, the send-side estimate -> encoder;
    # RED/ULPFEC only with it (the parity is paced and budgeted there).
    extension_id = congestion_control.negotiate(transceiver, offer_sdp)
    fec = fec_sender.negotiate(transceiver, offer_sdp) if extension_id is not None else None
    log.info("session %s: RED/ULPFEC %s", session_id, fec or "not negotiated")
    return congestion_control.install(transceiver.sender, track, extension_id, bitrate, fec=fec)


def negotiated_codec(answer_sdp: str) -> Codec:
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


def _offered_video_extensions(offer_sdp: str) -> list[object]:
    for media in SessionDescription.parse(offer_sdp).media:
        if media.kind == "video":
            return list(media.rtp.headerExtensions)
    return []
