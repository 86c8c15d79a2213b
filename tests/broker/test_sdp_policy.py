"""SDP policy: one receive-only video (viewer side), one data channel, nothing else."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from mamori_protocol.errors import SdpPolicyError
from mamori_protocol.sdp import SdpRole, check_session_description

pytestmark = pytest.mark.unit


async def real_offer_and_answer() -> tuple[str, str]:
    """An offer and answer made by real aiortc peers shaped like the browser and the agent."""
    viewer, host = RTCPeerConnection(), RTCPeerConnection()
    try:
        viewer.createDataChannel("input")
        viewer.addTransceiver("video", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())
        host.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await host.setRemoteDescription(RTCSessionDescription(viewer.localDescription.sdp, "offer"))
        await host.setLocalDescription(await host.createAnswer())
        return viewer.localDescription.sdp, host.localDescription.sdp
    finally:
        await viewer.close()
        await host.close()


@pytest.fixture
async def sdps() -> tuple[str, str]:
    return await real_offer_and_answer()


def test_real_offer_and_answer_pass(sdps: tuple[str, str]) -> None:
    """What the viewer and the agent really negotiate is accepted in both roles."""
    offer, answer = sdps
    check_session_description(offer, SdpRole.OFFER_FROM_VIEWER)
    check_session_description(answer, SdpRole.ANSWER_FROM_HOST)


def test_roles_are_not_interchangeable(sdps: tuple[str, str]) -> None:
    """An answer where the host would receive video is refused."""
    offer, _ = sdps
    with pytest.raises(SdpPolicyError, match="video must be sendonly"):
        check_session_description(offer, SdpRole.ANSWER_FROM_HOST)


def add_section(sdp: str, section: str) -> str:
    return sdp.rstrip("\r\n") + "\r\n" + section


AUDIO = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n"
VIDEO = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n"
DATA = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"


@pytest.mark.parametrize(
    ("munge", "reason"),
    [
        (lambda s: add_section(s, AUDIO), "media not allowed: audio"),
        (lambda s: add_section(s, VIDEO), "exactly one video"),
        (lambda s: add_section(s, DATA), "exactly one data channel"),
        (lambda s: s.replace("a=recvonly", "a=sendrecv"), "video must be recvonly"),
        (lambda s: s.replace("a=recvonly", "a=inactive"), "video must be recvonly"),
        (lambda s: re.sub(r"m=video \d+", "m=video 0", s), "port 0"),
        (lambda s: s.replace("webrtc-datachannel", "5000"), "SCTP webrtc-datachannel"),
        (lambda s: re.sub(r"m=video \d+", "m=video x", s), "malformed media line"),
        (lambda s: s.replace("m=video", "m=text"), "media not allowed: text"),
    ],
    ids=[
        "audio",
        "second-video",
        "second-data",
        "sendrecv",
        "inactive",
        "rejected",
        "legacy-sctp",
        "malformed",
        "text",
    ],
)
def test_munged_offers_are_refused(sdps: tuple[str, str], munge: object, reason: str) -> None:
    """An offer with extra, missing or re-directed media is refused with the rule it broke."""
    offer, _ = sdps
    with pytest.raises(SdpPolicyError, match=reason):
        check_session_description(munge(offer), SdpRole.OFFER_FROM_VIEWER)  # type: ignore[operator]


def test_session_level_direction_applies_when_media_has_none() -> None:
    """A direction set at session level counts for a section that sets none."""
    sdp = "v=0\r\na=sendrecv\r\n" + VIDEO.replace("a=recvonly\r\n", "") + DATA
    with pytest.raises(SdpPolicyError, match="video must be recvonly, not sendrecv"):
        check_session_description(sdp, SdpRole.OFFER_FROM_VIEWER)


def test_no_media_at_all_is_refused() -> None:
    """An offer with no m-lines negotiates nothing and is refused."""
    with pytest.raises(SdpPolicyError, match="exactly one video"):
        check_session_description("v=0\r\n", SdpRole.OFFER_FROM_VIEWER)
