"""RED/ULPFEC on one aiortc video sender: negotiation, the packets out, the resends.

- **Negotiation** (``negotiate``, after setRemoteDescription): aiortc knows neither ``red``
  nor ``ulpfec`` and leaves them out of the answer (``find_common_codecs`` keeps only its
  own codecs and RTX of those). When the browser's video offer has ``red``, ``ulpfec`` and
  an RTX whose ``apt`` is red, the three are added to the answer's codecs, after the media
  codecs (the sender still encodes the first one). Otherwise nothing changes. Only when
  the media codec is VP8 unless ``MAMORI_FEC=h264`` (``allowed_with_h264``).
  **On by default for VP8** (``MAMORI_FEC=0`` turns it off; the bench's ``nofec``
  variant sets that), where it was measured to pay.
  The picture used to stop in every run with FEC packets, because FEC packets went inside
  frames longer than 48 packets (``FecStage._protect``); fixed, it plays with either
  codec (README, networks issue, "FEC").
- **Out** (``FecStage.packets``, in the congestion controller's send path, before the
  pacer): each media packet aiortc wrote is renumbered into the wire's sequence space (FEC
  packets take numbers in it too) and wrapped in RED; at the end of a frame (marker),
  ``fec_policy.fec_count`` FEC packets follow, over its last ``ulpfec.MAX_GROUP`` packets
  (never inside a frame: ``FecStage._protect``). Their
  bytes go through the pacer like media and the estimator sees them.
- **Resends** (``ResendView``): aiortc keeps its packets under its own sequence numbers;
  a NACK names wire numbers. The view maps one to the other and hands aiortc a RED copy
  under the wire number, and the sender's RTX payload type becomes the one whose apt is
  red (set after ``RTCRtpSender.send`` chose the media codec's). A NACK for an FEC packet
  is answered too (from ``FecStage``'s own store, never an unrecoverable loss): Chromium
  counts a received FEC packet as padding in its H.264 packet buffer, which assembles
  frames only over unbroken sequence numbers, so a lost FEC packet never resent is a hole
  no later frame gets past until a keyframe (seen: 0 frames decoded at 5 % loss, every
  FEC number NACKed again and again, a PLI every 3 s).

Known: parity is computed over the packets as they enter the pacer, whose transport-wide
sequence number is still the placeholder; a recovered packet therefore carries a wrong
transport-wide number. Chromium takes recovered packets past its transport-cc feedback,
so nothing reads it.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiortc.codecs.h264
import aiortc.codecs.vpx
from aiortc import RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription

from host_agent.webrtc import ulpfec
from host_agent.webrtc.fec_policy import Overhead, fec_count

ENV: Final = "MAMORI_FEC"
# The largest RTP packet aiortc's SRTP protects: its 1500-byte buffer less the 144-byte
# trailer it reserves (pylibsrtp). An FEC packet is its media's longest packet plus the
# header extensions again, the RED byte and 18 bytes of FEC headers: with aiortc's
# 1300-byte payloads it did not fit (seen: "packet is too long", the pacer stopped).
MAX_WIRE: Final = 1356
# So media payloads are cut smaller when FEC is on (libwebrtc subtracts FEC's overhead
# from the packet size the same way): 1200 + 2 x ~36 bytes of header and extensions + 19.
MEDIA_PAYLOAD_MAX: Final = 1200
# Wire -> aiortc sequence numbers kept for resends: past any retransmission horizon
# (~20 s of a scrolling screen), well short of the 16-bit wrap.
MAPPED: Final = 1 << 14


@dataclass(frozen=True)
class FecPayloadTypes:
    red: int
    ulpfec: int
    red_rtx: int


@dataclass
class FecStats:
    media: int = 0
    fec: int = 0
    fec_bytes: int = 0
    media_bytes: int = 0
    groups_protected: int = 0
    too_long: int = 0  # FEC packets not sent: over MAX_WIRE
    resends: int = 0
    fec_nacked: int = 0  # FEC packets resent on a NACK


def loss_reader(estimator: Any) -> Callable[[], float]:
    """The loss FEC's share follows: the estimator's, or ``MAMORI_FEC_LOSS`` when set (a
    fixed share on any link, for checking the receiver's side of FEC without loss)."""
    fixed = os.environ.get("MAMORI_FEC_LOSS")
    if fixed:
        value = float(fixed)
        return lambda: value
    return lambda: float(estimator.loss_fraction)


def enabled() -> bool:
    """On unless ``MAMORI_FEC`` is ``0``: with VP8 (the only codec it acts on by default,
    see ``allowed_with_h264``) it cut the p90 glass-to-glass latency at 5 % loss from ~160
    to ~90 ms and at 10 % from ~235 to ~180-255 ms with fewer freezes (README, networks
    issue, "FEC"); below ``fec_policy.MIN_LOSS`` it sends no parity at all."""
    return os.environ.get(ENV, "1") in ("1", "h264")


def allowed_with_h264() -> bool:
    """H.264 with ULPFEC only with ``MAMORI_FEC=h264``. It stalled Chromium's receiver
    (0 frames decoded at 0 % loss), but so did VP8, for the same reason: FEC packets
    inside frames (``FecStage._protect``). Since that fix it plays (33 fps at 0 % loss
    with a forced 25 % share, one run), and in one run at 5 % and 10 % loss it cut the
    p90 by ~30 % with fewer freezes (README, networks issue, "FEC"). It stays behind its
    own switch until more runs and the network tests confirm it for every session."""
    return os.environ.get(ENV) == "h264"


def negotiate(transceiver: RTCRtpTransceiver, offer_sdp: str) -> FecPayloadTypes | None:
    """Add red, its RTX and ulpfec to the answer if the offer's video has all three."""
    if not enabled():
        return None
    media = next((c for c in transceiver._codecs if c.mimeType.lower() != "video/rtx"), None)
    if media is None or (media.mimeType.lower() == "video/h264" and not allowed_with_h264()):
        return None  # see allowed_with_h264: VP8 only
    video = next((m for m in SessionDescription.parse(offer_sdp).media if m.kind == "video"), None)
    if video is None:
        return None
    codecs = video.rtp.codecs
    red = next((c for c in codecs if c.mimeType.lower() == "video/red"), None)
    fec = next((c for c in codecs if c.mimeType.lower() == "video/ulpfec"), None)
    if red is None or fec is None:
        return None
    rtx = next(
        (
            c
            for c in codecs
            if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == red.payloadType
        ),
        None,
    )
    if rtx is None or None in (red.payloadType, fec.payloadType, rtx.payloadType):
        return None
    types = FecPayloadTypes(int(red.payloadType), int(fec.payloadType), int(rtx.payloadType))  # type: ignore[arg-type]
    for codec in (red, rtx, fec):
        if all(c.payloadType != codec.payloadType for c in transceiver._codecs):
            transceiver._codecs.append(
                RTCRtpCodecParameters(
                    mimeType=codec.mimeType,
                    clockRate=codec.clockRate,
                    payloadType=codec.payloadType,
                    parameters=dict(codec.parameters),
                )
            )
    return types


class FecStage:
    """Media packets in (as aiortc wrote them), RED media and FEC packets out."""

    def __init__(
        self,
        types: FecPayloadTypes,
        ssrc: int,
        loss: Callable[[], float],
        first_sequence: int = 0,
        enabled: bool = True,
    ) -> None:
        self.types = types
        self._ssrc = ssrc
        self._loss = loss
        self._enabled = enabled
        self._next = first_sequence % ulpfec.SEQUENCE_SPACE
        self._group: list[bytes] = []  # as sent without RED, wire numbers, consecutive
        self._to_aiortc: OrderedDict[int, int] = OrderedDict()
        self._fec_packets: OrderedDict[int, bytes] = OrderedDict()  # wire seq -> RED FEC
        self.overhead = Overhead()
        self.stats = FecStats()

    def packets(self, data: bytes) -> list[bytes]:
        """What to send for one media packet from aiortc: its RED form, and FEC after it
        when it ends a frame or fills a group."""
        aiortc_seq = ulpfec.sequence_number(data)
        wire = self._take_sequence()
        self._remember(self._to_aiortc, wire, aiortc_seq)
        media = ulpfec.with_sequence_number(data, wire)
        self._group.append(media)
        # Only the frame's last MAX_GROUP packets: FEC never goes inside a frame (see
        # _protect), and Chromium's receiver keeps only that many media packets to
        # recover from, so a parity over earlier ones would find them all "missing".
        del self._group[: -ulpfec.MAX_GROUP]
        out = [ulpfec.red_wrap(media, self.types.red)]
        self.stats.media += 1
        self.stats.media_bytes += len(out[0])
        self.overhead.add(len(out[0]), fec=False)
        if media[1] & 0x80:
            out.extend(self._protect())
        return out

    def _take_sequence(self) -> int:
        seq = self._next
        self._next = (seq + 1) % ulpfec.SEQUENCE_SPACE
        return seq

    def _protect(self) -> list[bytes]:
        """FEC after the last packet of a frame, never before: Chromium takes an FEC
        packet's number as padding, which its packet buffer does not hold, and assembles
        a frame only over consecutive numbers it holds, so a frame with an FEC number
        inside it never completes (seen: 0 frames decoded at 0 % loss, a keyframe asked
        for every 200 ms; libwebrtc's own sender also adds FEC only at frame ends)."""
        group, self._group = self._group, []
        count = fec_count(len(group), self._loss(), self._enabled)
        if not count:
            return []
        self.stats.groups_protected += 1
        last = group[-1]
        header = ulpfec.header_length(last)
        out = []
        for offsets in ulpfec.interleaved_masks(len(group), count):
            payload = ulpfec.fec_payload(group, offsets)
            # The last media packet's header: its timestamp and extensions; marker 0.
            rtp = bytes([last[0], self.types.ulpfec]) + last[2:header]
            if len(rtp) + 1 + len(payload) > MAX_WIRE:
                # Not sent, and no number taken: a hole in the sequence numbers would be
                # NACKed for ever and hold the receiver's frame assembly.
                self.stats.too_long += 1
                continue
            seq = self._take_sequence()
            packet = ulpfec.red_wrap(
                ulpfec.with_sequence_number(rtp, seq) + payload, self.types.red
            )
            self._remember(self._fec_packets, seq, packet)
            out.append(packet)
            self.stats.fec += 1
            self.stats.fec_bytes += len(packet)
            self.overhead.add(len(packet), fec=True)
        return out

    @staticmethod
    def _remember(kept: OrderedDict[int, Any], key: int, value: Any) -> None:
        kept.pop(key, None)
        kept[key] = value
        while len(kept) > MAPPED:
            kept.popitem(last=False)

    def aiortc_sequence(self, wire: int) -> int | None:
        """The number aiortc stored a media packet under, for its wire number."""
        return self._to_aiortc.get(wire % ulpfec.SEQUENCE_SPACE)

    def is_fec(self, wire: int) -> bool:
        return wire % ulpfec.SEQUENCE_SPACE in self._fec_packets

    def fec_packet(self, wire: int) -> bytes | None:
        """The FEC packet sent under ``wire`` (RED), if still kept."""
        return self._fec_packets.get(wire % ulpfec.SEQUENCE_SPACE)


class ResendView:
    """aiortc's retransmission history seen by wire sequence numbers (see the module doc).

    aiortc stores with ``history[key] = packet`` (its own numbers: passed through) and asks
    ``history.get(wire)`` on a NACK.
    """

    def __init__(self, history: Any, stage: FecStage) -> None:
        self._history = history
        self._stage = stage

    def __setitem__(self, key: int, packet: Any) -> None:
        self._history[key] = packet

    def __len__(self) -> int:
        return len(self._history)

    def get(self, key: int, default: Any = None) -> Any:
        fec = self._stage.fec_packet(key)
        if fec is not None:  # resent, or the receiver's H.264 assembly stops at the hole
            self._stage.stats.fec_nacked += 1
            return RtpPacket.parse(fec)
        aiortc_seq = self._stage.aiortc_sequence(key)
        if aiortc_seq is None:
            return self._history.get(key, default)  # the history's own unknown handling
        packet = self._history.get(aiortc_seq, default)
        if packet is default or packet is None:
            return packet
        red = copy.copy(packet)
        red.sequence_number = key % ulpfec.SEQUENCE_SPACE
        red.payload_type = self._stage.types.red
        red.payload = bytes([packet.payload_type]) + packet.payload
        self._stage.stats.resends += 1
        return red


def install(sender: Any, stage: FecStage) -> None:
    """Resends through ``ResendView`` and as RTX of red (call after ``sender.send``);
    media payloads of at most ``MEDIA_PAYLOAD_MAX`` (aiortc's packetizers read the module
    constant at each frame; process-wide, like the history's constant)."""
    aiortc.codecs.h264.PACKET_MAX = MEDIA_PAYLOAD_MAX
    aiortc.codecs.vpx.PACKET_MAX = MEDIA_PAYLOAD_MAX
    history = sender._RTCRtpSender__rtp_history
    sender._RTCRtpSender__rtp_history = ResendView(history, stage)
    sender._RTCRtpSender__rtx_payload_type = stage.types.red_rtx
