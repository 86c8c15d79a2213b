"""ULPFEC in RED (host_agent.webrtc.ulpfec): any single lost packet of a parity set comes
back bit for bit; the FEC and level-0 headers are as RFC 5109 and libwebrtc read them."""

from __future__ import annotations

import random
import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from host_agent.webrtc import ulpfec

pytestmark = pytest.mark.unit

SSRC = 0x1234ABCD
MEDIA_PT = 102
RED_PT = 123
ULPFEC_PT = 125


def media(seq: int, size: int, marker: bool = False, ts: int = 90_000, ext: bool = True) -> bytes:
    """A packet as aiortc writes it: header extensions (mid, abs-send-time), payload."""
    packet = RtpPacket(
        payload_type=MEDIA_PT, marker=int(marker), sequence_number=seq % 65536, timestamp=ts
    )
    packet.ssrc = SSRC
    rng = random.Random(seq)
    packet.payload = bytes(rng.randrange(256) for _ in range(size))
    extensions = HeaderExtensionsMap()
    if ext:
        packet.extensions.mid = "0"
        packet.extensions.abs_send_time = rng.randrange(1 << 24)
        extensions.configure(
            RTCRtpParameters(
                headerExtensions=[
                    RTCRtpHeaderExtensionParameters(
                        id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"
                    ),
                    RTCRtpHeaderExtensionParameters(
                        id=2,
                        uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                    ),
                ]
            )
        )
    return bytes(packet.serialize(extensions))


def group(first: int, sizes: list[int]) -> list[bytes]:
    return [media(first + i, size, marker=i == len(sizes) - 1) for i, size in enumerate(sizes)]


def test_red_wraps_with_a_one_byte_primary_header_and_unwraps_back() -> None:
    packet = media(7, 300, marker=True)
    red = ulpfec.red_wrap(packet, RED_PT)
    header = ulpfec.header_length(packet)
    assert red[1] == 0x80 | RED_PT  # marker kept, PT = red
    assert red[header] == MEDIA_PT  # F = 0, block PT = the media's
    assert red[header + 1 :] == packet[header:]
    assert len(red) == len(packet) + 1
    assert ulpfec.red_unwrap(red) == packet


@pytest.mark.parametrize("count", [1, 2, 5, 16, 17, 48])
def test_any_single_lost_packet_of_a_group_is_recovered_bit_exact(count: int) -> None:
    """Different lengths (the shorter are zero-padded in the parity), a wrap of the
    sequence numbers, one FEC packet over all: every one lost in turn comes back."""
    rng = random.Random(count)
    packets = group(65_530, [rng.randrange(20, 1200) for _ in range(count)])
    fec = ulpfec.fec_payload(packets, list(range(count)))
    for lost in range(count):
        received = {ulpfec.sequence_number(p): p for i, p in enumerate(packets) if i != lost}
        assert ulpfec.recover(fec, received, SSRC) == packets[lost]


def test_a_burst_as_long_as_the_fec_count_is_recovered_with_interleaved_masks() -> None:
    packets = group(1000, [1100] * 12)
    masks = ulpfec.interleaved_masks(12, 4)
    fecs = [ulpfec.fec_payload(packets, offsets) for offsets in masks]
    lost = {5, 6, 7, 8}  # four in a row: one per parity set
    received = {ulpfec.sequence_number(p): p for i, p in enumerate(packets) if i not in lost}
    for fec in fecs:
        header = ulpfec.parse_fec(fec)
        missing = [s for s in header.protected if s not in received]
        assert len(missing) == 1
        received[missing[0]] = ulpfec.recover(fec, received, SSRC)
    assert [received[ulpfec.sequence_number(p)] for p in packets] == packets


def test_two_losses_in_one_set_are_not_recovered() -> None:
    packets = group(10, [500] * 4)
    fec = ulpfec.fec_payload(packets, [0, 1, 2, 3])
    received = {ulpfec.sequence_number(p): p for p in packets[2:]}
    with pytest.raises(ValueError, match="2 protected packets missing"):
        ulpfec.recover(fec, received, SSRC)


def test_fec_header_fields_per_rfc_5109() -> None:
    packets = [media(200, 100, ts=1111), media(201, 300, ts=1111, marker=True)]
    fec = ulpfec.fec_payload(packets, [0, 1])
    first, marker_pt, base, ts, length, span, mask = struct.unpack_from("!BBHIHHH", fec)
    assert first & 0x80 == 0  # E
    assert first & 0x40 == 0  # L: a 16-bit mask
    # P, X, CC recovery: both have X set, so it XORs to 0; CC 0.
    assert first & 0x3F == (packets[0][0] ^ packets[1][0]) & 0x3F
    assert marker_pt == packets[0][1] ^ packets[1][1]  # M 0 ^ 1, PT ^ PT = 0
    assert marker_pt == 0x80
    assert base == 200
    assert ts == 1111 ^ 1111
    assert length == (len(packets[0]) - 12) ^ (len(packets[1]) - 12)
    assert span == max(len(p) for p in packets) - 12
    assert mask == 0b11 << 14
    assert len(fec) == 10 + 4 + span


def test_a_mask_past_16_packets_is_48_bits_with_the_l_bit() -> None:
    packets = group(50, [200] * 30)
    fec = ulpfec.fec_payload(packets, [0, 17, 29])
    assert fec[0] & 0x40
    mask = int.from_bytes(fec[12:18], "big")
    assert mask == (1 << 47) | (1 << (47 - 17)) | (1 << (47 - 29))
    header = ulpfec.parse_fec(fec)
    assert header.long_mask
    assert header.protected == (50, 67, 79)
    assert len(fec) == 10 + 8 + header.protection_length


def test_interleaved_masks_cover_every_packet_once() -> None:
    for count in (1, 7, 16, 48):
        for fec_count in (1, 2, 3, count):
            masks = ulpfec.interleaved_masks(count, fec_count)
            assert sorted(i for m in masks for i in m) == list(range(count))
            assert len(masks) == min(fec_count, count)
    with pytest.raises(ValueError, match="not 49"):
        ulpfec.interleaved_masks(49, 1)


def test_a_malformed_fec_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        ulpfec.parse_fec(b"\x00" * 5)
    packets = group(1, [100, 100])
    fec = bytearray(ulpfec.fec_payload(packets, [0, 1]))
    fec[0] |= 0x80  # E bit
    with pytest.raises(ValueError, match="E bit"):
        ulpfec.parse_fec(bytes(fec))
    with pytest.raises(ValueError, match="protection length"):
        ulpfec.parse_fec(ulpfec.fec_payload(packets, [0, 1])[:-1])
