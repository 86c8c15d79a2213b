"""Transport-cc on the wire (host_agent.webrtc.transport_cc): feedback parsed from the
draft's encodings (run length, one- and two-bit vectors, large and negative deltas),
malformed reports refused, sequence numbers stamped into packets aiortc serializes."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import RtpPacket

from host_agent.webrtc.negotiation import PlayoutDelayExtensionsMap
from host_agent.webrtc.transport_cc import (
    TRANSPORT_CC_URI,
    SentPackets,
    build_feedback,
    extension_offset,
    feedback_packets,
    parse_feedback,
    stamp,
)

pytestmark = pytest.mark.unit


def handmade(base: int, count: int, reference: int, chunks: list[int], deltas: bytes) -> bytes:
    body = struct.pack("!IIHHI", 11, 22, base, count, (reference << 8) | 5)
    body += b"".join(struct.pack("!H", c) for c in chunks) + deltas
    padding = -len(body) % 4
    first = 0x8F
    if padding:
        first |= 0x20
        body += b"\x00" * (padding - 1) + bytes([padding])
    return struct.pack("!BBH", first, 205, len(body) // 4) + body


def test_run_length_and_small_deltas() -> None:
    # 3 packets received (symbol 1), run length chunk; deltas 4, 8, 0 ticks (1, 2, 0 ms).
    fb = parse_feedback(handmade(100, 3, 10, [(1 << 13) | 3], bytes([4, 8, 0])))
    assert (fb.base_sequence, fb.feedback_count, fb.sender_ssrc, fb.media_ssrc) == (100, 5, 11, 22)
    assert fb.reference_s == pytest.approx(0.640)
    assert fb.arrivals == pytest.approx((0.641, 0.643, 0.643))


def test_one_bit_vector_marks_losses() -> None:
    # 14 one-bit symbols: received, lost, received, then lost; only 4 are counted.
    chunk = 0x8000 | (1 << 13) | (1 << 11)
    fb = parse_feedback(handmade(7, 4, 0, [chunk], bytes([4, 4])))
    assert [a is not None for a in fb.arrivals] == [True, False, True, False]


def test_two_bit_vector_large_and_negative_deltas() -> None:
    # 7 two-bit symbols: small, large, large (negative), lost, ...; 4 counted.
    chunk = 0xC000 | (1 << 12) | (2 << 10) | (2 << 8)
    deltas = bytes([40]) + struct.pack("!h", 4000) + struct.pack("!h", -400)
    fb = parse_feedback(handmade(65535, 4, 1, [chunk], deltas))
    first, second, third, fourth = fb.arrivals
    assert first == pytest.approx(0.064 + 0.010)
    assert second == pytest.approx(0.074 + 1.0)
    assert third == pytest.approx(1.074 - 0.1)
    assert fourth is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:16],  # shorter than the fixed part
        lambda b: b[:-4],  # length says more than there is
        lambda b: b[:1] + b"\xc9" + b[2:],  # another packet type
        lambda b: b[:14] + b"\x00\x00" + b[16:],  # zero packet status count
        lambda b: b[:14] + b"\x00\xff" + b[16:],  # more statuses than chunks and deltas
    ],
)
def test_malformed_feedback_is_refused(mangle: object) -> None:
    good = build_feedback(10, [0.1, 0.2, None, 0.3])
    parse_feedback(good)
    with pytest.raises(ValueError, match="transport-cc"):
        parse_feedback(mangle(good))  # type: ignore[operator]


def test_reserved_symbol_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved symbol"):
        parse_feedback(handmade(0, 2, 0, [(3 << 13) | 2], b""))


def test_build_then_parse_round_trips() -> None:
    arrivals: list[float | None] = [10.0, 10.001, None, 10.3, 9.9, None, 12.0, 12.0001]
    fb = parse_feedback(build_feedback(65530, arrivals, feedback_count=9))
    assert fb.base_sequence == 65530
    assert fb.feedback_count == 9
    for want, got in zip(arrivals, fb.arrivals, strict=True):
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want, abs=0.00026)


def test_compound_rtcp_yields_only_transport_cc() -> None:
    receiver_report = struct.pack("!BBHI", 0x80, 201, 1, 1234)
    twcc = build_feedback(1, [0.5])
    assert feedback_packets(receiver_report + twcc + receiver_report) == [twcc]


def test_sent_packets_map_feedback_across_the_wrap() -> None:
    sent = SentPackets()
    for i in range(70000):
        assert sent.next_sequence(i * 0.001, 1000 + i % 7) == i % 65536
    # The last four numbers handed out: 69996..69999, i.e. 4460..4463 on the wire.
    results = sent.results(parse_feedback(build_feedback(4460, [1.0, None, 1.1, 1.2])))
    assert [r.sequence for r in results] == [69996, 69997, 69998, 69999]
    assert results[0].send_time == pytest.approx(69.996)
    assert results[1].arrival is None
    assert results[2].size == 1000 + 69998 % 7


def serialized_with_extensions(twcc_id: int) -> bytes:
    extensions = PlayoutDelayExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=twcc_id, uri=TRANSPORT_CC_URI),
            ]
        )
    )
    packet = RtpPacket(payload_type=102, sequence_number=5, payload=b"x" * 100)
    packet.extensions.mid = "0"
    return packet.serialize(extensions)


def test_aiortc_packets_carry_a_placeholder_that_is_stamped() -> None:
    data = serialized_with_extensions(twcc_id=3)
    assert extension_offset(data, 3) is not None
    stamped = stamp(data, 3, 4242)
    assert stamped is not None
    assert len(stamped) == len(data)
    parsed = RtpPacket.parse(stamped, _map(3))
    assert parsed.extensions.transport_sequence_number == 4242
    assert parsed.extensions.mid == "0"
    assert parsed.payload == b"x" * 100
    assert stamp(data, 9, 1) is None  # an id the packet does not carry


def _map(twcc_id: int) -> PlayoutDelayExtensionsMap:
    extensions = PlayoutDelayExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=twcc_id, uri=TRANSPORT_CC_URI),
            ]
        )
    )
    return extensions


def test_no_placeholder_without_negotiation() -> None:
    extensions = PlayoutDelayExtensionsMap()
    packet = RtpPacket(payload_type=102, sequence_number=5, payload=b"x")
    assert extension_offset(packet.serialize(extensions), 3) is None
