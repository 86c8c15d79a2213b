"""ULPFEC (RFC 5109, level 0) in RED (RFC 2198), the way Chromium's receiver reads it (pure).

A lost packet repaired by NACK/RTX costs a round trip plus the receiver's NACK delay; a
parity packet sent with the frame repairs one loss of its group at once. Chromium decodes
ULPFEC only inside RED on the video SSRC:

- **Media**: every video packet becomes RED with a one-byte header for the primary block
  (F = 0, block PT = the media payload type) and the stream's sequence numbers.
- **FEC**: a RED packet whose block PT is ``ulpfec``, on the same SSRC, with its own
  sequence number in the same space (after the packets it protects), the RTP header of the
  last media packet it protects (timestamp, extensions) and marker 0.

What the parity covers is what the receiver rebuilds a packet from: the media packet as if
sent without RED (its RTP header with the media payload type, then its payload). The
receiver (libwebrtc's ``UlpfecReceiver``) takes each RED media packet back to that form
before it XORs.

The FEC payload (RFC 5109 section 7.3 and 7.4, one level):

- FEC header, 10 bytes: E = 0, L (mask of 48 bits instead of 16), then the XOR of the
  protected packets' P, X, CC, M, PT (bytes 0-1 of their headers, version bits left as
  they XOR; the receiver forces them), SN base (the lowest protected sequence number), the
  XOR of their timestamps and of their lengths less the 12-byte fixed header.
- Level-0 header: the protection length (the longest protected packet less 12 bytes) and
  the mask: bit i from the most significant set means SN base + i is protected.
- The XOR of every protected packet's bytes after the fixed header (CSRCs, extensions,
  payload), zero-padded to the protection length.

Which packets each FEC packet protects (``interleaved_masks``): FEC packet j of m protects
every m-th media packet from j. Random loss sees the same protection as with contiguous
blocks; a burst of up to m consecutive losses lands in m different parity sets and is
repaired whole (libwebrtc's bursty mask tables aim at the same).

``recover`` (one FEC packet and the others of its set rebuild the missing one) is the
receiver's half, here for the tests: a parity that does not rebuild a packet bit for bit
is the bug these tests exist to catch.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

RTP_HEADER: Final = 12
FEC_HEADER: Final = 10
# Level-0 header: protection length (2) + mask (2 or 6).
LEVEL0_SHORT: Final = 4
LEVEL0_LONG: Final = 8
MASK_BITS_SHORT: Final = 16
MASK_BITS_LONG: Final = 48
MAX_GROUP: Final = MASK_BITS_LONG
SEQUENCE_SPACE: Final = 1 << 16
L_BIT: Final = 0x40
E_BIT: Final = 0x80


def red_wrap(packet: bytes, red_pt: int) -> bytes:
    """``packet`` (an RTP packet, no padding) as RED with one primary block."""
    header = header_length(packet)
    media_pt = packet[1] & 0x7F
    first = bytes([packet[0], (packet[1] & 0x80) | red_pt])
    return first + packet[2:header] + bytes([media_pt]) + packet[header:]


def red_unwrap(packet: bytes) -> bytes:
    """A RED packet with one primary block back to the packet it carries (what the
    receiver protects and rebuilds)."""
    header = header_length(packet)
    block_pt = packet[header]
    if block_pt & 0x80:
        raise ValueError("RED with redundant blocks: only a primary block is sent here")
    first = bytes([packet[0], (packet[1] & 0x80) | block_pt])
    return first + packet[2:header] + packet[header + 1 :]


def header_length(packet: bytes) -> int:
    """The RTP header's length: fixed part, CSRCs and the extension block if any."""
    if len(packet) < RTP_HEADER or packet[0] >> 6 != 2:
        raise ValueError("not an RTP packet")
    length = RTP_HEADER + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < length + 4:
            raise ValueError("truncated RTP header extension")
        (words,) = struct.unpack_from("!H", packet, length + 2)
        length += 4 + 4 * words
    if len(packet) < length:
        raise ValueError("truncated RTP header")
    return length


def sequence_number(packet: bytes) -> int:
    return int(struct.unpack_from("!H", packet, 2)[0])


def with_sequence_number(packet: bytes, seq: int) -> bytes:
    return packet[:2] + struct.pack("!H", seq % SEQUENCE_SPACE) + packet[4:]


def interleaved_masks(count: int, fec_count: int) -> list[list[int]]:
    """For ``count`` media packets and ``fec_count`` FEC packets, the offsets (from the
    first media packet) each FEC packet protects: every ``fec_count``-th from its index."""
    if not 0 < count <= MAX_GROUP:
        raise ValueError(f"a group holds 1..{MAX_GROUP} media packets, not {count}")
    fec_count = max(1, min(fec_count, count))
    return [list(range(j, count, fec_count)) for j in range(fec_count)]


def _xor_into(target: bytearray, data: bytes, offset: int = 0) -> None:
    for i, byte in enumerate(data):
        target[offset + i] ^= byte


def fec_payload(media: Sequence[bytes], offsets: Sequence[int]) -> bytes:
    """The ULPFEC payload (FEC header, level-0 header, parity) protecting
    ``media[i]`` for i in ``offsets``; ``media`` are consecutive in sequence number, as
    sent without RED, ``media[0]`` the SN base."""
    if not offsets:
        raise ValueError("an FEC packet protects at least one packet")
    protected = [media[i] for i in offsets]
    long_mask = max(offsets) >= MASK_BITS_SHORT
    span = max(len(p) - RTP_HEADER for p in protected)
    recovery = bytearray(8)  # bytes 0-1 and the timestamp (4-7) of the headers, XORed
    length = 0
    parity = bytearray(span)
    for packet in protected:
        _xor_into(recovery, packet[0:2])
        _xor_into(recovery, packet[4:8], 4)
        length ^= len(packet) - RTP_HEADER
        _xor_into(parity, packet[RTP_HEADER:])
    first = (recovery[0] & ~(E_BIT | L_BIT) & 0xFF) | (L_BIT if long_mask else 0)
    mask = 0
    for i in offsets:
        mask |= 1 << (MASK_BITS_LONG - 1 - i)
    header = struct.pack(
        "!BBH4sH", first, recovery[1], sequence_number(media[0]), bytes(recovery[4:8]), length
    )
    if long_mask:
        level0 = struct.pack("!H", span) + mask.to_bytes(6, "big")
    else:
        level0 = struct.pack("!HH", span, mask >> (MASK_BITS_LONG - MASK_BITS_SHORT))
    return header + level0 + bytes(parity)


@dataclass(frozen=True)
class FecHeader:
    """A parsed ULPFEC payload (the receiver's view; tests and logs)."""

    long_mask: bool
    recovery_first: int  # P, X, CC as XORed (E and L cleared)
    recovery_marker_pt: int
    sn_base: int
    ts_recovery: int
    length_recovery: int
    protection_length: int
    protected: tuple[int, ...]  # sequence numbers
    parity: bytes


def parse_fec(payload: bytes) -> FecHeader:
    if len(payload) < FEC_HEADER + LEVEL0_SHORT:
        raise ValueError("ULPFEC payload too short")
    first, marker_pt, base, ts, length = struct.unpack_from("!BBHIH", payload)
    if first & E_BIT:
        raise ValueError("E bit set: not RFC 5109 ULPFEC")
    long_mask = bool(first & L_BIT)
    level0 = LEVEL0_LONG if long_mask else LEVEL0_SHORT
    if len(payload) < FEC_HEADER + level0:
        raise ValueError("ULPFEC level-0 header truncated")
    (span,) = struct.unpack_from("!H", payload, FEC_HEADER)
    mask_bytes = payload[FEC_HEADER + 2 : FEC_HEADER + level0]
    bits = len(mask_bytes) * 8
    mask = int.from_bytes(mask_bytes, "big")
    protected = tuple(
        (base + i) % SEQUENCE_SPACE for i in range(bits) if mask & (1 << (bits - 1 - i))
    )
    parity = payload[FEC_HEADER + level0 :]
    if len(parity) != span:
        raise ValueError(f"parity of {len(parity)} bytes, protection length {span}")
    return FecHeader(long_mask, first & 0x3F, marker_pt, base, ts, length, span, protected, parity)


def recover(fec: bytes, received: dict[int, bytes], ssrc: int) -> bytes:
    """The one protected packet missing from ``received`` (seq -> packet without RED),
    rebuilt from the FEC payload ``fec`` as libwebrtc's receiver does."""
    header = parse_fec(fec)
    missing = [s for s in header.protected if s not in received]
    if len(missing) != 1:
        raise ValueError(f"{len(missing)} protected packets missing: one can be recovered")
    first = header.recovery_first
    marker_pt = header.recovery_marker_pt
    ts = header.ts_recovery
    length = header.length_recovery
    body = bytearray(header.parity)
    for seq in header.protected:
        if seq == missing[0]:
            continue
        packet = received[seq]
        first ^= packet[0]
        marker_pt ^= packet[1]
        ts ^= int(struct.unpack_from("!I", packet, 4)[0])
        length ^= len(packet) - RTP_HEADER
        _xor_into(body, packet[RTP_HEADER:])
    if length > len(body):
        raise ValueError("recovered length beyond the protection length")
    first = (first | 0x80) & ~0x40 & 0xFF  # version 2, as the receiver forces
    return struct.pack("!BBHII", first, marker_pt, missing[0], ts, ssrc) + bytes(body[:length])
