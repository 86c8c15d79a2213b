"""SDP answer tuning and the playout-delay extension (host_agent.webrtc.negotiation), and the
REMB parsing of host_agent.webrtc.rtcp_feedback."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    HeaderExtensions,
    RtcpPsfbPacket,
    pack_remb_fci,
    unpack_header_extensions,
)

from host_agent.video.encoder import h264_level
from host_agent.webrtc.negotiation import (
    PLAYOUT_DELAY_URI,
    PlayoutDelayExtensionsMap,
    preferred_codecs,
    profile_level_id,
)
from host_agent.webrtc.rtcp_feedback import remb_bitrate

pytestmark = pytest.mark.unit


def test_the_level_byte_of_profile_level_id_is_replaced() -> None:
    """42e01f (constrained baseline 3.1) becomes 42e02a for 1080p60, profile untouched."""
    assert profile_level_id("42e01f", h264_level(1920, 1080, 60)) == "42e02a"
    assert profile_level_id("42001f", h264_level(1280, 720, 60)) == "420020"
    with pytest.raises(ValueError, match="profile-level-id"):
        profile_level_id("42e01", h264_level(1280, 720, 60))


def test_codec_order_is_h264_vp8_rtx_and_h264_can_be_left_out() -> None:
    """H.264 first; without a usable libx264 only VP8 (and RTX) is offered to negotiate."""
    names = [c.mimeType.lower() for c in preferred_codecs()]
    assert names[0] == "video/h264"
    assert "video/vp8" in names
    assert names[-1] == "video/rtx"
    assert "video/h264" not in [c.mimeType.lower() for c in preferred_codecs(h264=False)]


def params(*uris_ids: tuple[str, int]) -> RTCRtpParameters:
    return RTCRtpParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in uris_ids]
    )


def test_playout_delay_zero_is_written_on_every_packet_when_negotiated() -> None:
    """The map adds the negotiated id with min = max = 0 next to aiortc's own extensions."""
    extensions = PlayoutDelayExtensionsMap()
    extensions.configure(params(("urn:ietf:params:rtp-hdrext:sdes:mid", 1), (PLAYOUT_DELAY_URI, 6)))
    profile, data = extensions.set(HeaderExtensions(mid="0"))
    assert sorted(unpack_header_extensions(profile, data)) == [(1, b"0"), (6, b"\0\0\0")]


def test_no_playout_delay_when_not_negotiated() -> None:
    """Without the extension in the parameters the packets are aiortc's, unchanged."""
    extensions = PlayoutDelayExtensionsMap()
    extensions.configure(params(("urn:ietf:params:rtp-hdrext:sdes:mid", 1)))
    profile, data = extensions.set(HeaderExtensions(mid="0"))
    assert unpack_header_extensions(profile, data) == [(1, b"0")]


def test_remb_for_our_stream_gives_its_bitrate_and_nothing_else_does() -> None:
    """REMB naming our SSRC is read; other SSRCs, other feedback and garbage are not."""
    remb = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(2_500_000, [42])
    )
    assert remb_bitrate(remb, 42) == pytest.approx(2_500_000, rel=0.01)
    assert remb_bitrate(remb, 43) is None
    assert remb_bitrate(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=42), 42) is None
    assert (
        remb_bitrate(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=b"junk"), 42)
        is None
    )
