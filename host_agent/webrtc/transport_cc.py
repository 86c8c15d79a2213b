"""Transport-wide congestion control on the wire: sequence numbers out, feedback back in.

- **Out**: every RTP packet the agent sends (media and RTX alike) carries a transport-wide
  sequence number in the header extension of draft-holmer-rmcat-transport-wide-cc-
  extensions-01. aiortc's extension map writes the extension (a placeholder); the number is
  written into the serialized packet when it actually leaves (``stamp``), so the recorded
  send time is the pacer's, not the encoder's.
- **Back**: the receiver's feedback (RTCP RTPFB, FMT 15) says, per sequence number, whether
  the packet arrived and when (250 us resolution, against a 64 ms reference clock).
  ``parse_feedback`` reads it (a closed format, every length checked: a malformed report
  raises ``ValueError`` and is dropped by the caller); ``build_feedback`` writes it (tests
  and synthetic traces).
- ``SentPackets`` keeps what was sent (send time, size) long enough for the feedback to
  name it, and turns a feedback into ``PacketResult``s for the estimator.

aiortc parses FMT 15 as if it were a NACK (its ``lost`` list is meaningless), so the raw
RTCP is read before aiortc sees it (``congestion_control.py``).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

TRANSPORT_CC_URI: Final = (
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)
RTCP_RTPFB: Final = 205
FMT_TRANSPORT_CC: Final = 15
SEQUENCE_SPACE: Final = 1 << 16
DELTA_TICK_S: Final = 0.000250
REFERENCE_TICK_S: Final = 0.064
# A feedback names at most this many packets (the field is 16 bits; Chromium sends a few
# hundred); anything larger is refused rather than expanded.
MAX_STATUS_COUNT: Final = 1 << 14
_RUN_LENGTH_MAX: Final = (1 << 13) - 1

# Per-packet symbols.
NOT_RECEIVED: Final = 0
SMALL_DELTA: Final = 1
LARGE_DELTA: Final = 2


@dataclass(frozen=True)
class Feedback:
    """One transport-cc report: ``arrivals[i]`` is packet ``base + i``'s arrival time in
    seconds on the receiver's clock, or None if it had not arrived."""

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    feedback_count: int
    reference_s: float
    arrivals: tuple[float | None, ...]


@dataclass(frozen=True)
class PacketResult:
    """A sent packet as the feedback reports it (times: send on ours, arrival on theirs)."""

    sequence: int
    send_time: float
    size: int
    arrival: float | None


def _read_symbols(data: bytes, pos: int, count: int) -> tuple[list[int], int]:
    symbols: list[int] = []
    while len(symbols) < count:
        if pos + 2 > len(data):
            raise ValueError("transport-cc feedback: status chunks truncated")
        (chunk,) = struct.unpack_from("!H", data, pos)
        pos += 2
        if chunk & 0x8000 == 0:  # run length chunk
            symbol, run = (chunk >> 13) & 0x3, chunk & _RUN_LENGTH_MAX
            if symbol == 3:
                raise ValueError("transport-cc feedback: reserved symbol")
            symbols.extend([symbol] * min(run, count - len(symbols)))
        elif chunk & 0x4000 == 0:  # 14 one-bit symbols
            bits = [(chunk >> (13 - i)) & 1 for i in range(14)]
            symbols.extend(bits[: count - len(symbols)])
        else:  # 7 two-bit symbols
            pairs = [(chunk >> (12 - 2 * i)) & 3 for i in range(7)]
            kept = pairs[: count - len(symbols)]
            if 3 in kept:
                raise ValueError("transport-cc feedback: reserved symbol")
            symbols.extend(kept)
    return symbols, pos


def parse_feedback(packet: bytes) -> Feedback:
    """One RTCP transport-cc packet (header included, padding allowed)."""
    if len(packet) < 20:
        raise ValueError("transport-cc feedback: too short")
    first, packet_type, length = struct.unpack_from("!BBH", packet, 0)
    if first >> 6 != 2 or packet_type != RTCP_RTPFB or first & 0x1F != FMT_TRANSPORT_CC:
        raise ValueError("not a transport-cc feedback")
    end = 4 + 4 * length
    if end > len(packet):
        raise ValueError("transport-cc feedback: truncated")
    if first & 0x20:  # padding: the last byte counts it
        pad = packet[end - 1]
        if pad == 0 or pad > end - 20:
            raise ValueError("transport-cc feedback: bad padding")
        end -= pad
    data = packet[:end]
    sender_ssrc, media_ssrc, base, count, ref_and_count = struct.unpack_from("!IIHHI", data, 4)
    if count == 0 or count > MAX_STATUS_COUNT:
        raise ValueError("transport-cc feedback: bad packet status count")
    reference = ref_and_count >> 8
    if reference & 0x800000:
        reference -= 1 << 24
    symbols, pos = _read_symbols(data, 20, count)
    clock = reference * REFERENCE_TICK_S
    arrivals: list[float | None] = []
    for symbol in symbols:
        if symbol == NOT_RECEIVED:
            arrivals.append(None)
            continue
        if symbol == SMALL_DELTA:
            if pos + 1 > len(data):
                raise ValueError("transport-cc feedback: deltas truncated")
            ticks = data[pos]
            pos += 1
        else:
            if pos + 2 > len(data):
                raise ValueError("transport-cc feedback: deltas truncated")
            (ticks,) = struct.unpack_from("!h", data, pos)
            pos += 2
        clock += ticks * DELTA_TICK_S
        arrivals.append(clock)
    return Feedback(
        sender_ssrc, media_ssrc, base, ref_and_count & 0xFF, reference * REFERENCE_TICK_S,
        tuple(arrivals),
    )  # fmt: skip


def feedback_packets(compound: bytes) -> list[bytes]:
    """The transport-cc packets of a compound RTCP datagram (the others are skipped)."""
    found, pos = [], 0
    while pos + 4 <= len(compound):
        first, packet_type, length = struct.unpack_from("!BBH", compound, pos)
        end = pos + 4 + 4 * length
        if first >> 6 != 2 or end > len(compound):
            break  # aiortc's parser rejects the datagram as well
        if packet_type == RTCP_RTPFB and first & 0x1F == FMT_TRANSPORT_CC:
            found.append(compound[pos:end])
        pos = end
    return found


def build_feedback(
    base: int,
    arrivals: list[float | None],
    feedback_count: int = 0,
    sender_ssrc: int = 1,
    media_ssrc: int = 2,
) -> bytes:
    """A transport-cc packet for ``arrivals`` (seconds, receiver clock; None: lost), in
    the simplest valid encoding (two-bit status vectors). For tests and traces."""
    received = [a for a in arrivals if a is not None]
    reference = int((received[0] if received else 0.0) // REFERENCE_TICK_S)
    clock_ticks = round(reference * REFERENCE_TICK_S / DELTA_TICK_S)
    symbols, deltas = [], b""
    for arrival in arrivals:
        if arrival is None:
            symbols.append(NOT_RECEIVED)
            continue
        ticks = round(arrival / DELTA_TICK_S) - clock_ticks
        clock_ticks += ticks
        if 0 <= ticks <= 0xFF:
            symbols.append(SMALL_DELTA)
            deltas += bytes([ticks])
        else:
            symbols.append(LARGE_DELTA)
            deltas += struct.pack("!h", max(-(1 << 15), min((1 << 15) - 1, ticks)))
    chunks = b""
    for i in range(0, len(symbols), 7):
        group = symbols[i : i + 7] + [NOT_RECEIVED] * (7 - len(symbols[i : i + 7]))
        value = 0xC000
        for j, symbol in enumerate(group):
            value |= symbol << (12 - 2 * j)
        chunks += struct.pack("!H", value)
    body = struct.pack(
        "!IIHHI", sender_ssrc, media_ssrc, base % SEQUENCE_SPACE, len(arrivals),
        ((reference & 0xFFFFFF) << 8) | (feedback_count & 0xFF),
    ) + chunks + deltas  # fmt: skip
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!BBH", 0x80 | FMT_TRANSPORT_CC, RTCP_RTPFB, len(body) // 4) + body


def extension_offset(packet: bytes | bytearray, extension_id: int) -> int | None:
    """Where the 2-byte value of one-/two-byte header extension ``extension_id`` starts in
    a serialized RTP packet; None if the packet does not carry it."""
    if len(packet) < 12 or not packet[0] & 0x10:
        return None
    pos = 12 + 4 * (packet[0] & 0x0F)
    if pos + 4 > len(packet):
        return None
    profile, words = struct.unpack_from("!HH", packet, pos)
    pos += 4
    end = pos + 4 * words
    if end > len(packet):
        return None
    two_byte = (profile & 0xFFF0) == 0x1000
    if profile != 0xBEDE and not two_byte:
        return None
    while pos < end:
        if packet[pos] == 0:  # padding
            pos += 1
            continue
        if two_byte:
            if pos + 2 > end:
                return None
            x_id, size = packet[pos], packet[pos + 1]
            pos += 2
        else:
            x_id, size = packet[pos] >> 4, (packet[pos] & 0x0F) + 1
            pos += 1
            if x_id == 15:
                return None
        if x_id == extension_id:
            return pos if size == 2 and pos + 2 <= end else None
        pos += size
    return None


def stamp(packet: bytes, extension_id: int, sequence: int) -> bytes | None:
    """``packet`` with its transport-wide sequence number set; None if it has none."""
    offset = extension_offset(packet, extension_id)
    if offset is None:
        return None
    out = bytearray(packet)
    struct.pack_into("!H", out, offset, sequence % SEQUENCE_SPACE)
    return bytes(out)


class SentPackets:
    """The transport-wide sequence numbers handed out, with each packet's send time and
    size, for ``KEEP`` of them (far more than a feedback interval at any bitrate here)."""

    KEEP: Final = 1 << 14

    def __init__(self) -> None:
        self._next = 0  # unwrapped
        self._sent: OrderedDict[int, tuple[float, int]] = OrderedDict()
        self._last_base: int | None = None  # unwrapped base of the previous feedback

    def next_sequence(self, now: float, size: int) -> int:
        """Hand out the number of a packet leaving now with ``size`` bytes."""
        sequence = self._next
        self._next += 1
        self._sent[sequence] = (now, size)
        while len(self._sent) > self.KEEP:
            self._sent.popitem(last=False)
        return sequence % SEQUENCE_SPACE

    def _unwrap(self, sequence: int) -> int:
        """The unwrapped number nearest the last one handed out."""
        reference = self._next - 1
        delta = (sequence - reference) % SEQUENCE_SPACE
        if delta >= SEQUENCE_SPACE // 2:
            delta -= SEQUENCE_SPACE
        return reference + delta

    def results(self, feedback: Feedback) -> list[PacketResult]:
        """The packets ``feedback`` reports on that we still know, in sequence order."""
        base = self._unwrap(feedback.base_sequence)
        out = []
        for i, arrival in enumerate(feedback.arrivals):
            sent = self._sent.get(base + i)
            if sent is not None:
                out.append(PacketResult(base + i, sent[0], sent[1], arrival))
        return out
