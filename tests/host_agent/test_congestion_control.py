"""Congestion control on a real aiortc sender (host_agent.webrtc.congestion_control): two
aiortc peers on loopback, the viewer's offer carrying what Chromium's does (the
transport-cc header extension and rtcp-fb). The answer keeps both; every RTP packet that
leaves, retransmissions included, carries a transport-wide sequence number, consecutive
across media and RTX; transport-cc feedback the viewer sends reaches the estimator and its
target reaches the encoder's sink. Without transport-cc in the offer nothing changes."""

from __future__ import annotations

import asyncio
import re
import struct
import time
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket, is_rtcp

from host_agent.webrtc import congestion_control, negotiation
from host_agent.webrtc.transport_cc import TRANSPORT_CC_URI, build_feedback, extension_offset

pytestmark = pytest.mark.integration

TWCC_ID = 5


class Sink:
    def __init__(self) -> None:
        self.targets: list[int] = []
        self.links: list[int | None] = []

    def set_target_bitrate(
        self, bitrate: int, link_bitrate: int | None = None, queued_s: float = 0.0
    ) -> None:
        self.targets.append(bitrate)
        self.links.append(link_bitrate)


def chromium_like(offer_sdp: str) -> str:
    """Add what Chromium's offer has and aiortc's lacks: the extension and the rtcp-fb."""
    lines, out = offer_sdp.split("\r\n"), []
    for line in lines:
        out.append(line)
        if line.startswith("m=video"):
            out.append(f"a=extmap:{TWCC_ID} {TRANSPORT_CC_URI}")
        match = re.match(r"a=rtpmap:(\d+) (VP8|H264)/", line)
        if match:
            out.append(f"a=rtcp-fb:{match.group(1)} transport-cc")
    return "\r\n".join(out)


async def until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def connect(twcc: bool) -> tuple[RTCPeerConnection, RTCPeerConnection, Any, Sink, str]:
    viewer, agent = RTCPeerConnection(), RTCPeerConnection()
    viewer.addTransceiver("video", direction="recvonly")
    await viewer.setLocalDescription(await viewer.createOffer())
    offer = viewer.localDescription.sdp
    if twcc:
        offer = chromium_like(offer)
    transceiver = agent.addTransceiver(VideoStreamTrack(), direction="sendonly")
    negotiation.install_playout_delay(transceiver.sender)
    await agent.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    sink = Sink()
    controller = congestion_control.install(
        transceiver.sender, sink, congestion_control.negotiate(transceiver, offer), 4_000_000
    )
    await agent.setLocalDescription(await agent.createAnswer())
    answer = agent.localDescription.sdp
    await viewer.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return viewer, agent, controller, sink, answer


def capture(pc: RTCPeerConnection) -> list[bytes]:
    """Every RTP packet the viewer's transport receives (decrypted), in order."""
    transport = pc.getTransceivers()[0].receiver.transport
    seen: list[bytes] = []
    original = transport._handle_rtp_data

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        seen.append(data)
        await original(data, arrival_time_ms)

    transport._handle_rtp_data = handle
    return seen


async def test_transport_cc_negotiated_stamped_and_fed_back() -> None:
    viewer, agent, controller, sink, answer = await connect(twcc=True)
    try:
        assert controller is not None
        assert f"a=extmap:{TWCC_ID} {TRANSPORT_CC_URI}" in answer
        assert re.search(r"a=rtcp-fb:\d+ transport-cc", answer)
        assert sink.targets, "the encoder got no starting target"
        seen = capture(viewer)
        await until(lambda: len(seen) >= 30)
        sender = agent.getTransceivers()[0].sender

        # A NACK for a packet already sent: its RTX goes through the pacer, stamped too.
        media = [p for p in seen if struct.unpack_from("!I", p, 8)[0] == sender._ssrc]
        nacked = struct.unpack_from("!H", media[5], 2)[0]
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sender._ssrc, lost=[nacked])
        await viewer.getTransceivers()[0].receiver.transport._send_rtp(bytes(nack))
        await until(
            lambda: any(struct.unpack_from("!I", p, 8)[0] == sender._rtx_ssrc for p in seen)
        )

        numbers = []
        for packet in list(seen):
            assert not is_rtcp(packet)
            offset = extension_offset(packet, TWCC_ID)
            assert offset is not None, "a packet left without a transport-wide number"
            numbers.append(struct.unpack_from("!H", packet, offset)[0])
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert controller.unstamped == 0

        # Feedback: all received 1 ms apart; the estimator reads it, the sink follows.
        before = len(sink.targets)
        arrivals: list[float | None] = [1.0 + i * 0.001 for i in range(len(numbers))]
        feedback = build_feedback(numbers[0], arrivals, media_ssrc=sender._ssrc)
        await viewer.getTransceivers()[0].receiver.transport._send_rtp(feedback)
        await until(lambda: controller.estimator.stats.feedbacks == 1)
        assert controller.estimator.stats.packets == len(numbers)
        assert len(sink.targets) > before
        # The link's estimate goes with the encoder's share (the tiles' budget follows it).
        assert sink.links[-1] == controller.estimator.target
        assert sink.targets[-1] <= controller.estimator.target
        assert controller.malformed == 0

        # A malformed report is counted and dropped; the session goes on.
        mangled = feedback[:14] + b"\xff\xff" + feedback[16:]  # 65535 packets claimed
        await viewer.getTransceivers()[0].receiver.transport._send_rtp(mangled)
        await until(lambda: controller.malformed == 1)
        assert controller.estimator.stats.feedbacks == 1
    finally:
        await viewer.close()
        await agent.close()


async def test_without_transport_cc_in_the_offer_nothing_is_installed() -> None:
    viewer, agent, controller, sink, answer = await connect(twcc=False)
    try:
        assert controller is None
        assert "transport-cc" not in answer
        assert TRANSPORT_CC_URI not in answer
        seen = capture(viewer)
        await until(lambda: len(seen) >= 5)
        assert all(extension_offset(p, TWCC_ID) is None for p in seen)
        assert sink.targets == []
    finally:
        await viewer.close()
        await agent.close()
