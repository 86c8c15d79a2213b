"""RED/ULPFEC on the sender (host_agent.webrtc.fec_sender, fec_policy): negotiated only
when the browser offers it, media renumbered and wrapped, parity that recovers, resends
as RTX of red, the share following the loss; aiortc's internals it relies on pinned."""

from __future__ import annotations

import inspect
import re

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtp import RtpPacket

from host_agent.webrtc import fec_policy, fec_sender, ulpfec
from host_agent.webrtc.fec_sender import FecPayloadTypes, FecStage, ResendView
from host_agent.webrtc.retransmission import RetransmissionHistory
from tests.host_agent.test_ulpfec import SSRC, media

pytestmark = pytest.mark.unit

TYPES = FecPayloadTypes(red=123, ulpfec=125, red_rtx=124)


def stage(loss: float, first: int = 500) -> FecStage:
    return FecStage(TYPES, SSRC, lambda: loss, first_sequence=first)


# --- policy ------------------------------------------------------------------------------


def test_no_parity_without_loss_and_more_on_large_groups_bounded() -> None:
    assert fec_policy.fec_count(10, 0.0) == 0
    assert fec_policy.fec_count(10, 0.004) == 0
    assert fec_policy.fec_count(2, 0.015) == 0  # 1-2 % loss: a parity per frame paid nothing
    assert fec_policy.fec_count(2, 0.025) == 1
    assert fec_policy.fec_count(10, 0.05) == 1  # 10 % of 10
    assert fec_policy.fec_count(10, 0.10) == 2
    assert fec_policy.fec_count(40, 0.05) == 8  # a keyframe: 20 %
    assert fec_policy.fec_count(40, 0.5) == 20  # bounded at half
    assert fec_policy.fec_count(10, 0.5) == 3  # bounded at 30 %
    assert fec_policy.fec_count(10, 0.05, enabled=False) == 0


def test_the_overhead_share_follows_what_was_sent() -> None:
    overhead = fec_policy.Overhead(weight=0.05)
    for _ in range(400):
        for _ in range(9):
            overhead.add(1200, fec=False)
        overhead.add(1200, fec=True)
    assert overhead.share == pytest.approx(0.1, abs=0.03)


# --- the stage ---------------------------------------------------------------------------


def test_media_is_renumbered_and_red_wrapped_with_no_fec_at_zero_loss() -> None:
    s = stage(0.0)
    out = [p for seq in range(70, 75) for p in s.packets(media(seq, 400, marker=seq == 74))]
    assert [ulpfec.sequence_number(p) for p in out] == [500, 501, 502, 503, 504]
    assert all(p[1] & 0x7F == TYPES.red for p in out)
    assert ulpfec.red_unwrap(out[0]) == ulpfec.with_sequence_number(media(70, 400), 500)
    assert s.stats.fec == 0
    assert s.aiortc_sequence(503) == 73


def test_at_loss_a_frame_ends_with_fec_that_recovers_each_of_its_packets() -> None:
    s = stage(0.10, first=65_534)  # the wire numbers wrap inside the frame
    frame = [media(1000 + i, 300 + 50 * i, marker=i == 9) for i in range(10)]
    out = [p for packet in frame for p in s.packets(packet)]
    media_out, fec_out = out[:10], out[10:]
    assert len(fec_out) == 2  # 20 % of 10 at 10 % loss
    for p in fec_out:
        header = ulpfec.header_length(p)
        assert p[1] == TYPES.red  # marker 0
        assert p[header] == TYPES.ulpfec  # RED block PT
        assert p[4:12] == media_out[-1][4:12]  # timestamp and SSRC of the frame
    assert [ulpfec.sequence_number(p) for p in out] == [(65_534 + i) % 65536 for i in range(12)]
    assert all(s.is_fec(ulpfec.sequence_number(p)) for p in fec_out)
    plain = {ulpfec.sequence_number(p): ulpfec.red_unwrap(p) for p in media_out}
    for lost in plain:
        fec = next(
            f for f in fec_out if lost in ulpfec.parse_fec(ulpfec.red_unwrap(f)[header:]).protected
        )
        received = {q: p for q, p in plain.items() if q != lost}
        rebuilt = ulpfec.recover(ulpfec.red_unwrap(fec)[header:], received, SSRC)
        assert rebuilt == plain[lost]


def test_no_fec_packet_takes_a_number_inside_a_frame_longer_than_48_packets() -> None:
    # Chromium's packet buffer assembles a frame only over consecutive numbers held in the
    # buffer; an FEC packet counts as padding, which is not, so a frame with an FEC number
    # inside never assembles (seen: 0 frames decoded at 0 % loss, every keyframe asked
    # again). Its ULPFEC receiver keeps the last 48 media packets: the parity sent after
    # the frame protects those, and rebuilds any one of them.
    s = stage(0.05)
    out = [p for i in range(60) for p in s.packets(media(i, 200, marker=i == 59))]
    numbers = [ulpfec.sequence_number(p) for p in out]
    fec = [p for p in out if s.is_fec(ulpfec.sequence_number(p))]
    assert out[:60] == [p for p in out if not s.is_fec(ulpfec.sequence_number(p))]
    assert numbers == [500 + i for i in range(len(out))]
    assert len(fec) == fec_policy.fec_count(48, 0.05) == 10
    assert s.stats.groups_protected == 1
    header = ulpfec.header_length(fec[0])
    parsed = [ulpfec.parse_fec(ulpfec.red_unwrap(f)[header:]) for f in fec]
    assert sorted(q for h in parsed for q in h.protected) == list(range(512, 560))
    plain = {ulpfec.sequence_number(p): ulpfec.red_unwrap(p) for p in out[12:60]}
    fec_for = next(f for f, h in zip(fec, parsed, strict=True) if 530 in h.protected)
    received = {q: p for q, p in plain.items() if q != 530}
    assert ulpfec.recover(ulpfec.red_unwrap(fec_for)[header:], received, SSRC) == plain[530]


# --- resends -----------------------------------------------------------------------------


class Clock:
    now = 10.0

    def __call__(self) -> float:
        return self.now


def test_a_nack_by_wire_number_resends_the_red_copy_and_fec_is_resent_as_sent() -> None:
    s = stage(0.10, first=9000)
    unrecoverable: list[int] = []
    history = RetransmissionHistory(
        Clock(), 8_000_000, on_unrecoverable=lambda: unrecoverable.append(1)
    )
    view = ResendView(history, s)
    for seq in range(40, 45):
        packet = RtpPacket(payload_type=102, sequence_number=seq, payload=bytes([seq]) * 50)
        packet.marker = int(seq == 44)
        view[seq] = packet  # what aiortc's _run_rtp does
        s.packets(media(seq, 50, marker=seq == 44))
    resent = view.get(9002)
    assert resent.sequence_number == 9002
    assert resent.payload_type == TYPES.red
    assert resent.payload == bytes([102]) + bytes([42]) * 50
    fec = view.get(9005)  # the FEC packet: resent too (Chromium's H.264 assembly needs it)
    assert fec.sequence_number == 9005
    assert fec.payload_type == TYPES.red
    assert fec.payload[0] == TYPES.ulpfec
    assert s.stats.fec_nacked == 1
    assert unrecoverable == []


def test_aiortc_still_chooses_rtx_and_stores_packets_the_way_the_patch_expects() -> None:
    """If aiortc changes these, this fails (not the streams)."""
    send = inspect.getsource(RTCRtpSender.send)
    retransmit = inspect.getsource(RTCRtpSender._retransmit)
    assert "self.__rtx_payload_type = codec.payloadType" in send
    assert "self.__rtp_task = asyncio.ensure_future(self._run_rtp(" in send
    assert "await" not in send.split("self.__rtp_task")[0]  # nothing runs before install
    assert "payload_type=self.__rtx_payload_type" in retransmit
    assert "packet.sequence_number == sequence_number" in retransmit


# --- negotiation -------------------------------------------------------------------------

CHROMIUM_FEC = (
    "a=rtpmap:123 red/90000\r\n"
    "a=rtpmap:124 rtx/90000\r\n"
    "a=fmtp:124 apt=123\r\n"
    "a=rtpmap:125 ulpfec/90000\r\n"
)


async def offer_with(extra: str) -> str:
    """An aiortc offer with Chromium's red / rtx-of-red / ulpfec lines added."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
    finally:
        await pc.close()
    if not extra:
        return sdp
    m_line = re.search(r"m=video (\S+) (\S+) ([\d ]+)\r\n", sdp)
    assert m_line is not None
    sdp = sdp.replace(m_line.group(0), m_line.group(0).rstrip("\r\n") + " 123 124 125\r\n")
    index = sdp.index("a=rtpmap:", m_line.end())
    return sdp[:index] + extra + sdp[index:]


async def answer_to(offer: str) -> tuple[str, FecPayloadTypes | None]:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        types = fec_sender.negotiate(transceiver, offer)
        answer = await pc.createAnswer()
        return answer.sdp, types
    finally:
        await pc.close()


@pytest.fixture
def fec_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fec_sender.ENV, "1")


async def test_red_ulpfec_and_rtx_of_red_are_answered_when_offered(fec_on: None) -> None:
    sdp, types = await answer_to(await offer_with(CHROMIUM_FEC))
    assert types == TYPES
    assert "a=rtpmap:123 red/90000" in sdp
    assert "a=rtpmap:125 ulpfec/90000" in sdp
    assert "a=fmtp:124 apt=123" in sdp
    m_line = re.search(r"m=video \S+ \S+ ([\d ]+)", sdp)
    assert m_line is not None
    assert m_line.group(1).split()[-3:] == ["123", "124", "125"]  # media codecs first


@pytest.mark.parametrize(
    "extra",
    ["", "a=rtpmap:123 red/90000\r\na=rtpmap:125 ulpfec/90000\r\n"],  # none; no rtx of red
)
async def test_nothing_changes_without_all_three_in_the_offer(extra: str, fec_on: None) -> None:
    offer = await offer_with(extra)
    if extra:
        offer = offer.replace(" 123 124 125\r\n", " 123 125\r\n")
    sdp, types = await answer_to(offer)
    assert types is None
    assert "red/90000" not in sdp
    assert "ulpfec" not in sdp


async def test_off_with_mamori_fec_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fec_sender.ENV, "0")
    sdp, types = await answer_to(await offer_with(CHROMIUM_FEC))
    assert types is None
    assert "ulpfec" not in sdp


async def test_on_by_default_for_vp8(monkeypatch: pytest.MonkeyPatch) -> None:
    """With VP8 it pays at 5-10 % loss (README, networks issue, "FEC"): on unless said."""
    monkeypatch.delenv(fec_sender.ENV, raising=False)
    sdp, types = await answer_to(await offer_with(CHROMIUM_FEC))
    assert types is not None
    assert "ulpfec" in sdp


def test_aiortc_packetizers_still_read_their_packet_max_at_each_frame() -> None:
    """The media payload is cut to leave room for FEC (fec_sender.MEDIA_PAYLOAD_MAX)."""
    import aiortc.codecs.h264
    import aiortc.codecs.vpx

    assert "PACKET_MAX - FU_A_HEADER_SIZE" in inspect.getsource(aiortc.codecs.h264)
    assert "PACKET_MAX - len(descr_bytes)" in inspect.getsource(aiortc.codecs.vpx)
    rtp_overhead = 12 + 36  # fixed header, up to 36 bytes of extensions as aiortc writes
    fec_overhead = 1 + 10 + 8  # RED byte, FEC header, level-0 header with a long mask
    media_len = fec_sender.MEDIA_PAYLOAD_MAX + rtp_overhead
    assert rtp_overhead + fec_overhead + (media_len - 12) <= fec_sender.MAX_WIRE


def test_an_fec_packet_too_long_for_srtp_is_not_sent() -> None:
    s = stage(0.10)
    out = [p for i in range(3) for p in s.packets(media(i, 1320, marker=i == 2))]
    assert len(out) == 3
    assert s.stats.too_long == 1
    assert all(len(p) <= fec_sender.MAX_WIRE for p in out)
    # No number was taken for it: the next packet follows on (a hole would be NACKed).
    nxt = s.packets(media(3, 100, marker=True))
    assert ulpfec.sequence_number(nxt[0]) == ulpfec.sequence_number(out[-1]) + 1


async def answer_with_h264_first(offer: str) -> FecPayloadTypes | None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        transceiver.setCodecPreferences(
            sorted(
                RTCRtpSender.getCapabilities("video").codecs,
                key=lambda c: c.mimeType.lower() != "video/h264",
            )
        )
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        return fec_sender.negotiate(transceiver, offer)
    finally:
        await pc.close()


async def test_no_fec_with_h264_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch, fec_on: None
) -> None:
    """Chromium stalls on H.264 with ULPFEC (fec_sender.allowed_with_h264)."""
    offer = await offer_with(CHROMIUM_FEC)
    assert await answer_with_h264_first(offer) is None
    monkeypatch.setenv(fec_sender.ENV, "h264")
    assert await answer_with_h264_first(offer) == TYPES
