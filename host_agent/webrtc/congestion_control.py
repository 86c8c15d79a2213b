"""Send-side congestion control on one aiortc sender: negotiation, pacing, feedback.

aiortc has no transport-wide congestion control; this joins the pure parts to it:

- **Negotiation** (``negotiate``, after setRemoteDescription): when the browser offers the
  transport-cc header extension, the answer keeps it and every video codec that offered the
  ``transport-cc`` rtcp-fb keeps it too. Chromium then sends transport-cc feedback (and no
  REMB: its estimate moves to the sender).
- **Out** (``install``): the sender's packets go through ``Pacer`` instead of straight to
  the DTLS transport; when one leaves it gets its transport-wide sequence number
  (``transport_cc.stamp``; aiortc's extension map writes a placeholder, see
  ``negotiation.PlayoutDelayExtensionsMap``) and its send time is recorded. RTX (the
  sender's RTX SSRC) goes first. RTCP passes unpaced.
- **Back**: raw RTCP is read before aiortc parses it (aiortc reads FMT 15 as a NACK
  list); each transport-cc report goes through ``SentPackets`` to ``BandwidthEstimator``,
  whose target becomes the pacer's rate (x2.5) and the encoder's byte budget
  (``set_target_bitrate``: a number changes, no encoder is rebuilt), less while the
  pacer's queue is long (``encoder_target``, as libwebrtc's pacer pushback).

The patch points are instance attributes of this one sender's DTLS transport
(``_send_rtp`` and ``_handle_rtcp_data``) set when the sender starts (``send``), when its
transport is final; tests pin them against the aiortc version in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpHeaderExtensionParameters
from aiortc.rtp import is_rtcp
from aiortc.sdp import SessionDescription

from host_agent.webrtc import fec_sender
from host_agent.webrtc.estimator import BandwidthEstimator
from host_agent.webrtc.pacer import FACTOR, Pacer
from host_agent.webrtc.retransmission import sender_round_trip
from host_agent.webrtc.transport_cc import (
    TRANSPORT_CC_URI,
    SentPackets,
    extension_offset,
    feedback_packets,
    parse_feedback,
    stamp,
)

log = logging.getLogger(__name__)

TRANSPORT_CC_FEEDBACK: Final = "transport-cc"
LOG_INTERVAL_S: Final = 5.0
# Pacer queue (seconds at the target) the encoder ignores, and the queue at which its
# target is cut to MIN_PUSHBACK.
PUSHBACK_FREE_S: Final = 0.05
PUSHBACK_S: Final = 0.5
MIN_PUSHBACK: Final = 0.1


class TargetSink(Protocol):
    def set_target_bitrate(
        self, bitrate: int, link_bitrate: int | None = None, queued_s: float = 0.0
    ) -> None:
        """``bitrate``: the encoder's share; ``link_bitrate``: the estimate it came from, or
        what the pacer's trains passed unspread if more (an unknown bottleneck:
        ``dispersion.probe_rate``); ``queued_s``: the video the pacer still holds, in
        seconds at the estimate."""


def negotiate(transceiver: RTCRtpTransceiver, offer_sdp: str) -> int | None:
    """Keep transport-cc in the answer if the offer's video has it (call after
    setRemoteDescription, before createAnswer); returns the extension id, or None."""
    video = next((m for m in SessionDescription.parse(offer_sdp).media if m.kind == "video"), None)
    if video is None:
        return None
    ext = next((e for e in video.rtp.headerExtensions if e.uri == TRANSPORT_CC_URI), None)
    if ext is None:
        return None
    if all(e.uri != TRANSPORT_CC_URI for e in transceiver._headerExtensions):
        transceiver._headerExtensions.append(
            RTCRtpHeaderExtensionParameters(id=ext.id, uri=ext.uri)
        )
    feedback = RTCRtcpFeedback(type=TRANSPORT_CC_FEEDBACK)
    with_feedback = {c.payloadType for c in video.rtp.codecs if feedback in c.rtcpFeedback}
    for codec in transceiver._codecs:
        if codec.payloadType in with_feedback and feedback not in codec.rtcpFeedback:
            codec.rtcpFeedback.append(feedback)
    return int(ext.id)


def encoder_target(target: int, queued_s: float) -> int:
    """The encoder's share of ``target`` while the pacer holds ``queued_s`` of it: less as
    the queue grows (down to ``MIN_PUSHBACK``), so a queue drains instead of standing (a
    keyframe or a burst of change larger than the link takes in a moment)."""
    excess = max(0.0, queued_s - PUSHBACK_FREE_S)
    return int(target * max(MIN_PUSHBACK, 1.0 - excess / PUSHBACK_S))


class CongestionController:
    """Pacer, transport-wide numbers and the estimate for one sender (see the module doc)."""

    def __init__(
        self,
        sender: RTCRtpSender,
        target: TargetSink,
        extension_id: int,
        max_bitrate: int,
        clock: Callable[[], float] = time.monotonic,
        fec: fec_sender.FecPayloadTypes | None = None,
    ) -> None:
        self._sender = sender
        self._fec = fec
        self.fec_stage: fec_sender.FecStage | None = None
        self._target = target
        self._extension_id = extension_id
        self._clock = clock
        now = clock()
        self.estimator = BandwidthEstimator(now, max_bitrate)
        self.pacer: Pacer[bytes] = Pacer(self.estimator.target, now)
        self.sent = SentPackets()
        self.malformed = 0
        self.unstamped = 0
        self.refused = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._round_trip = sender_round_trip(sender)
        self._logged_at = now
        self._send: Callable[[bytes], Awaitable[None]] | None = None
        target.set_target_bitrate(self.estimator.target, self.estimator.target)

    def install(self) -> None:
        """Wrap the sender's start and stop (its transport is final when it starts)."""
        send, stop = self._sender.send, self._sender.stop

        async def start(parameters: Any) -> None:
            self._attach(self._sender.transport)
            await send(parameters)
            if self._fec is not None:  # before the sender's loop writes a packet
                self.fec_stage = fec_sender.FecStage(
                    self._fec, self._sender._ssrc, fec_sender.loss_reader(self.estimator),
                    first_sequence=secrets.randbelow(1 << 16),
                )  # fmt: skip
                fec_sender.install(self._sender, self.fec_stage)

        async def finish() -> None:
            await stop()
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

        self._sender.send = start  # type: ignore[method-assign]
        self._sender.stop = finish  # type: ignore[method-assign]

    def _attach(self, transport: Any) -> None:
        if self._send is not None:
            return
        self._send = transport._send_rtp
        handle_rtcp = transport._handle_rtcp_data

        send = self._send

        async def send_rtp(data: bytes) -> None:
            if is_rtcp(data):
                await send(data)
                return
            self._enqueue(data)

        async def on_rtcp(data: bytes) -> None:
            for packet in feedback_packets(data):
                self.on_feedback(packet)
            await handle_rtcp(data)

        transport._send_rtp = send_rtp
        transport._handle_rtcp_data = on_rtcp
        self._task = asyncio.ensure_future(self._run(send))

    def _enqueue(self, data: bytes) -> None:
        ssrc = struct.unpack_from("!I", data, 8)[0] if len(data) >= 12 else None
        resend = ssrc == self._sender._rtx_ssrc
        if self.fec_stage is not None and ssrc == self._sender._ssrc:
            for packet in self.fec_stage.packets(data):  # RED media, then any FEC
                self.pacer.push(packet, len(packet), self._clock())
        else:
            self.pacer.push(data, len(data), self._clock(), resend=resend)
        self._wake.set()

    def on_feedback(self, packet: bytes) -> None:
        """One transport-cc report: update the estimate, the pacer and the encoder."""
        try:
            feedback = parse_feedback(packet)
        except ValueError as exc:
            self.malformed += 1
            if self.malformed <= 5:
                log.warning("malformed transport-cc feedback dropped: %s", exc)
            return
        now = self._clock()
        results = self.sent.results(feedback)
        if not results:
            return
        target = self.estimator.update(results, now, self._round_trip())
        # An unknown bottleneck: probe it with faster trains (dispersion.probe_rate), up to
        # the pacing of the largest target; the tiles may use what the path has carried.
        dispersion = self.estimator.dispersion
        ceiling = FACTOR * self.estimator.max_bitrate
        self.pacer.set_bitrate(target, now, min(dispersion.probe_rate(now) or 0.0, ceiling))
        queued = self.pacer.queued_seconds(target)
        media = encoder_target(target, queued)
        if self.fec_stage is not None:  # the parity's share of the budget is not the encoder's
            media = int(media * (1.0 - self.fec_stage.overhead.share))
        carried = dispersion.unknown_floor(now) or 0.0
        path = int(max(target, min(carried, self.estimator.max_bitrate)))
        self._target.set_target_bitrate(media, path, queued)
        if now - self._logged_at >= LOG_INTERVAL_S:
            self._logged_at = now
            s = self.estimator.stats
            link = self.estimator.dispersion
            log.info(
                "congestion: target %d kbit/s (delay %d, loss %d, acked %s), %d/%d lost, "
                "%d delay drops, %d loss drops, pacer peak %d kB, threshold %.1f ms, "
                "trains read the link at %s kbit/s (%d samples, %d widenings), "
                "carried %s kbit/s unspread",
                target // 1000, self.estimator.delay_based // 1000,
                self.estimator.loss_based // 1000, self.estimator.acked.bitrate(), s.lost,
                s.packets, s.delay_drops, s.loss_drops, self.pacer.stats.max_queue_bytes // 1000,
                self.estimator.trend.threshold_ms,
                None if link.rate is None else int(link.rate // 1000), link.samples,
                link.widenings, None if link.floor is None else int(link.floor // 1000),
            )  # fmt: skip
            if self.fec_stage is not None:
                f = self.fec_stage.stats
                log.info(
                    "fec: loss %.1f %%, share %.1f %%, %d media / %d fec packets, %d groups "
                    "protected, %d resends as RTX of red, %d fec resent, %d too long",
                    100 * self.estimator.loss_fraction, 100 * self.fec_stage.overhead.share,
                    f.media, f.fec, f.groups_protected, f.resends, f.fec_nacked, f.too_long,
                )  # fmt: skip

    async def _run(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Release packets when the pacer says; stamp each as it leaves."""
        while True:
            now = self._clock()
            at = self.pacer.next_at(now)
            if at is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if at > now:
                await asyncio.sleep(at - now)
                continue
            while (packet := self.pacer.pop(self._clock())) is not None:
                if extension_offset(packet, self._extension_id) is None:
                    self.unstamped += 1  # no number handed out: none goes missing
                else:
                    sequence = self.sent.next_sequence(self._clock(), len(packet))
                    packet = stamp(packet, self._extension_id, sequence) or packet
                # ConnectionError: the transport is closing; aiortc's loop ends on its own.
                try:
                    with contextlib.suppress(ConnectionError):
                        await send(packet)
                except ValueError as exc:  # SRTP refused it (too long): drop this one only
                    self.refused += 1
                    if self.refused <= 5:
                        log.warning("packet of %d bytes not sent: %s", len(packet), exc)


def install(
    sender: RTCRtpSender,
    target: TargetSink,
    extension_id: int | None,
    max_bitrate: int,
    fec: fec_sender.FecPayloadTypes | None = None,
) -> CongestionController | None:
    """Congestion control on ``sender`` when transport-cc was negotiated (else None);
    with ``fec`` (red/ulpfec negotiated), media leaves as RED with ULPFEC after it."""
    if extension_id is None:
        return None
    controller = CongestionController(sender, target, extension_id, max_bitrate, fec=fec)
    controller.install()
    return controller
