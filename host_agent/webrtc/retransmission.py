"""The packets kept for retransmission (NACK -> RTX): by time and bitrate, not by count.

aiortc keeps the last 128 RTP packets it sent (``RTP_HISTORY_SIZE``): about 0.17 s of a
screen at 720-780 packets/s, less than a round trip plus the receiver's NACK delay on a
home-visit LTE link, so at 5 % loss 13 % of the lost packets were never repaired (measured,
networks issue). This history keeps every packet sent in the last ``horizon`` (at least
1 s, more when the round trip is long), bounded in bytes by the stream's maximum bitrate.

It also refuses what cannot help any more: a packet older than the horizon (the receiver
has given up on its frame, or asked for a keyframe), and a packet asked for again within a
round trip of its last resend (Chromium repeats NACKs; each answer would add to the loss's
burst while the first is still on its way).

A NACK for a packet no longer kept (an outage longer than the horizon) means the receiver's
picture cannot come back without a keyframe: every later P-frame refers back to the lost one
(the stream has no periodic IDR). Chromium asks for one only after 3 s without a decodable
frame, so after a 2 s outage the picture came back 1.5 s after the link did (measured,
tests/network/test_streaming_over_links.py). The history asks for the IDR itself
(``on_unrecoverable``, through the keyframe limiter) and stops resending every packet sent
up to then: the IDR supersedes them, and resent they would leave ahead of it.

The patch point in aiortc (``install``): ``RTCRtpSender._retransmit`` looks a packet up as
``history.get(seq % RTP_HISTORY_SIZE)`` and ``_run_rtp`` stores it as
``history[seq % RTP_HISTORY_SIZE] = packet``, with the module's ``RTP_HISTORY_SIZE``. Setting
that module constant to 2**16 makes the key the whole sequence number; the sender's private
dict is replaced by this history. Both are pinned by a test against aiortc's source, so an
upgrade that changes them fails there rather than silently. The constant is process-wide:
every sender the agent makes gets this history (``install``), so none keeps a plain dict.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiortc.rtcrtpsender
from aiortc import RTCRtpSender

MIN_HORIZON_S: Final = 1.0
# The horizon covers this many round trips (a NACK, its answer, a second NACK and answer).
ROUND_TRIPS: Final = 3
# Headroom over the maximum bitrate for bursts (a keyframe leaves faster than the average).
BURST_FACTOR: Final = 2.0
MIN_BYTES: Final = 1 << 20
# A resend of the same packet is not repeated sooner than this, or than a round trip.
MIN_RESEND_GAP_S: Final = 0.02
SEQUENCE_SPACE: Final = 1 << 16
# The superseded mark is dropped this many packets later (~20 s of a scrolling screen, far
# past any horizon), before the 16-bit sequence numbers wrap back onto it.
FLOOR_KEPT: Final = 1 << 14


class Packet(Protocol):
    sequence_number: int
    payload: bytes


@dataclass
class HistoryStats:
    stored: int = 0
    evicted: int = 0
    resent: int = 0
    unknown: int = 0  # never sent, or already evicted
    too_late: int = 0  # older than the horizon
    repeated: int = 0  # asked again within a round trip of the last resend
    superseded: int = 0  # sent before an IDR was asked for (an unrecoverable loss)
    unrecoverable: int = 0  # IDRs asked for because a NACKed packet was no longer kept


class RetransmissionHistory:
    """Sent RTP packets by full sequence number, kept ``horizon`` seconds, bytes-bounded.

    Speaks the two operations aiortc's sender uses on its history dict:
    ``history[key] = packet`` and ``history.get(key)``.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        max_bitrate: int,
        round_trip: Callable[[], float | None] = lambda: None,
        on_unrecoverable: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._round_trip = round_trip
        self._max_bitrate = max_bitrate
        self._on_unrecoverable = on_unrecoverable
        # seq -> (sent at, packet, last resent at or None), oldest first.
        self._packets: OrderedDict[int, tuple[float, Packet, float | None]] = OrderedDict()
        self._bytes = 0
        self._newest: int | None = None  # the last sequence number stored
        # Packets up to this sequence number are superseded by an IDR asked for.
        self._floor: int | None = None
        self.stats = HistoryStats()

    def horizon(self) -> float:
        """How long packets are kept and resent: >= 1 s, or ROUND_TRIPS round trips."""
        rtt = self._round_trip()
        return max(MIN_HORIZON_S, ROUND_TRIPS * rtt) if rtt else MIN_HORIZON_S

    def max_bytes(self) -> int:
        """The byte bound: the horizon at the maximum bitrate, with burst headroom."""
        return max(MIN_BYTES, int(self._max_bitrate / 8 * self.horizon() * BURST_FACTOR))

    def __len__(self) -> int:
        return len(self._packets)

    def __setitem__(self, key: int, packet: Packet) -> None:
        now = self._clock()
        seq = packet.sequence_number % SEQUENCE_SPACE
        old = self._packets.pop(seq, None)
        if old is not None:  # the sequence wrapped onto a packet still kept
            self._bytes -= len(old[1].payload)
        self._packets[seq] = (now, packet, None)
        self._newest = seq
        if self._floor is not None and (seq - self._floor) % SEQUENCE_SPACE >= FLOOR_KEPT:
            self._floor = None  # long gone from the history, and soon ahead of it again
        self._bytes += len(packet.payload)
        self.stats.stored += 1
        self._evict(now)

    def get(self, key: int, default: Any = None) -> Any:
        """The packet to resend for sequence number ``key``, or ``default`` if it is
        unknown, too old to help, or was resent less than a round trip ago."""
        now = self._clock()
        self._evict(now)
        seq = key % SEQUENCE_SPACE
        if self._floor is not None and _at_or_before(seq, self._floor):
            self.stats.superseded += 1
            return default
        entry = self._packets.get(seq)
        if entry is None:
            self.stats.unknown += 1
            if self._newest is not None and _at_or_before(seq, self._newest):
                self._unrecoverable()  # sent, and no longer kept
            return default
        sent_at, packet, resent_at = entry
        if now - sent_at > self.horizon():
            self.stats.too_late += 1
            self._unrecoverable()
            return default
        rtt = self._round_trip() or 0.0
        if resent_at is not None and now - resent_at < max(MIN_RESEND_GAP_S, rtt):
            self.stats.repeated += 1
            return default
        self._packets[key % SEQUENCE_SPACE] = (sent_at, packet, now)
        self.stats.resent += 1
        return packet

    def _unrecoverable(self) -> None:
        """A lost packet cannot be resent: ask for an IDR, and resend nothing sent so far."""
        if self._on_unrecoverable is None:
            return
        self._floor = self._newest
        self.stats.unrecoverable += 1
        self._on_unrecoverable()

    def _evict(self, now: float) -> None:
        horizon, limit = self.horizon(), self.max_bytes()
        while self._packets:
            seq, (sent_at, packet, _) = next(iter(self._packets.items()))
            if now - sent_at <= horizon and self._bytes <= limit:
                break
            del self._packets[seq]
            self._bytes -= len(packet.payload)
            self.stats.evicted += 1


def _at_or_before(seq: int, ref: int) -> bool:
    """``seq`` was sent at or before ``ref`` (16-bit sequence numbers, with wrapping)."""
    return (ref - seq) % SEQUENCE_SPACE < SEQUENCE_SPACE // 2


def sender_round_trip(sender: RTCRtpSender) -> Callable[[], float | None]:
    """The round trip aiortc's sender estimates from receiver reports (None before one)."""

    def read() -> float | None:
        rtt = getattr(sender, "_RTCRtpSender__rtt", None)
        return float(rtt) if rtt is not None else None

    return read


def install(sender: RTCRtpSender, history: RetransmissionHistory) -> None:
    """Make ``sender`` keep and resend packets through ``history`` (see the module doc)."""
    aiortc.rtcrtpsender.RTP_HISTORY_SIZE = SEQUENCE_SPACE  # type: ignore[attr-defined]
    sender._RTCRtpSender__rtp_history = history  # type: ignore[attr-defined]
