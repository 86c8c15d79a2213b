"""One viewer's WebRTC session on the host: a send-only screen track and the `input` channel.

The browser offers (it opens the `input` data channel); the agent answers with one send-only
video stream (codecs, level and playout delay from ``negotiation.py``) and accepts exactly
one data channel labelled ``input``. Anything else the browser opens is closed at once, and
data on a stream it never opened is a violation (``data_channels.py``).
Input messages are validated against the screen size and injected; invalid ones are
dropped, counted and logged, never injected. The other direction of the same channel carries
the host's cursor (``cursor.py``): positions and shapes, numbers and pixels only, and the
host's monitors for the viewer to choose from (``monitor_switch.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from aiortc import (
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

import mamori_protocol as protocol
from host_agent.errors import InvalidInput
from host_agent.input.channel_policy import (
    PolicyViolation,
    TextNotAdmitted,
    check_channel_label,
)
from host_agent.input.events import PointerButton, PointerMove, Wheel
from host_agent.input.injection import Injector
from host_agent.input.injection_queue import InjectionQueue
from host_agent.session.guard import SessionGuard
from host_agent.video.capture import ScreenGeometry
from host_agent.video.encode_pipeline import Codec
from host_agent.video.screen_track import MAX_FPS, ScreenTrack
from host_agent.video.sources import CaptureBackend, CursorSource, DisplayCapture, MonitorChoice
from host_agent.video.tile_sender import TileSender, attach_tiles
from host_agent.video.watermark import WatermarkIdentity
from host_agent.webrtc import congestion_control, video_sender
from host_agent.webrtc.data_channels import refuse_unannounced_streams
from host_agent.webrtc.ice import offers_loopback, rtc_configuration
from host_agent.webrtc.monitor_switch import MonitorSwitch
from mamori_protocol.candidates import CandidateBudget, filter_sdp_candidates, is_relay_line
from mamori_protocol.errors import SdpPolicyError
from mamori_protocol.monitors import (
    MonitorMessageError,
    bounding_box,
    parse_monitor_choice,
)
from mamori_protocol.sdp import SdpRole, check_session_description
from mamori_protocol.tile_overlay import TileOverlayMessageError, parse_tile_overlay_state

log = logging.getLogger(__name__)

INPUT_CHANNEL: Final = "input"
# Logging every bad message would let a hostile page fill the disk; log the first few.
MAX_LOGGED_INVALID: Final = 20
MAX_CURSOR_BACKLOG: Final = 64 * 1024


@dataclass
class InputStats:
    injected: int = 0
    invalid: int = 0
    refused_channels: int = 0
    violations: int = 0
    refused_text: int = 0
    monitor_switches: int = 0
    refused_switches: int = 0


@dataclass(frozen=True)
class StreamSettings:
    display: str | None
    fps: int = MAX_FPS  # the most; a static screen sends (almost) nothing
    bitrate: int = 8_000_000  # the most; REMB from the browser lowers it
    # Where pixels, changes and the cursor come from; None: X11 on ``display``.
    capture: CaptureBackend | None = None
    # Settled blocks also go out as lossless PNG tiles on the input channel (tile_sender.py).
    lossless_tiles: bool = True


class PeerSession:
    """The WebRTC side of one session; ``on_ended`` is called once when it ends by itself."""

    def __init__(
        self,
        start: protocol.SessionStart,
        stream: StreamSettings,
        injector: Injector,
        on_ended: Callable[[str], Awaitable[None]],
        report: Callable[[str, str], Awaitable[None]],
        activity: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.session_id = start.session_id
        self._activity = activity
        self.start = start
        self._report = report
        self._guard: SessionGuard | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.input_stats = InputStats()
        # STUN/TURN with this session's credential, and the clinic's policy (webrtc/ice.py).
        self._pc = RTCPeerConnection(rtc_configuration(start))
        # The viewer's candidates, checked again here (the broker did): a viewer must not
        # use this PC to send STUN into the clinic LAN (mamori_protocol/candidates.py).
        self._candidates = CandidateBudget(
            relay_only=start.ice_policy == "relay",
            allow_private=start.lan_candidates,
            allow_loopback=offers_loopback(),
        )
        self._candidate_reported = False
        self._stream = stream
        self._inputs = InjectionQueue(injector)
        self._on_ended = on_ended
        self._track: ScreenTrack | None = None
        self.congestion: congestion_control.CongestionController | None = None
        self._geometry: ScreenGeometry | None = None
        self._input_channel: RTCDataChannel | None = None
        # With the privacy screen the room sees a notice, so the capture reads the windows.
        self._capture: CaptureBackend = stream.capture or DisplayCapture(
            stream.display, composed=start.block_local_input
        )
        self._cursor: CursorSource | None = None
        self._tiles: TileSender | None = None
        self._monitors = MonitorSwitch(
            self.session_id, self._capture, closed=lambda: self._closed,
            switched=self._switched, failed=self._capture_failed,
        )  # fmt: skip
        self._closed = False
        self._pc.on("datachannel", self._on_datachannel)
        self._pc.on("connectionstatechange", self._on_connection_state)

    @property
    def track(self) -> ScreenTrack | None:
        return self._track

    async def answer(self, offer_sdp: str) -> str:
        """Apply the viewer's offer and return our answer SDP.

        Raises:
            SdpPolicyError: the offer (or, by a bug, our answer) is not one video and one
                data channel; reported for audit before raising.
        """
        await self._check_sdp(offer_sdp, SdpRole.OFFER_FROM_VIEWER)
        start = self.start
        mark = (
            WatermarkIdentity(
                start.viewer_name,
                start.viewer_id,
                start.organization,
                start.session_id,
                start.time_zone,
            )
            if start.watermark
            else None
        )
        track = ScreenTrack(
            self._stream.display,
            Codec.H264,
            self._stream.fps,
            self._stream.bitrate,
            watermark=mark,
            capture=self._capture,
            lossless_tiles=self._stream.lossless_tiles,
        )
        self._track = track
        geometry = self._geometry = await track.geometry()
        self._guard = SessionGuard(
            start, self._stream.display, geometry.width, geometry.height, self._report,
            self._end_by_guard, activity=self._report_activity,
        )  # fmt: skip
        transceiver = video_sender.prepare(self._pc, track, self._stream.bitrate)
        offer_sdp = filter_sdp_candidates(offer_sdp, self._admit_candidate)
        await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        refuse_unannounced_streams(self._pc, self._unannounced_stream)
        # The level allows the largest area the viewer may choose (all monitors as one).
        largest = geometry.width, geometry.height
        if isinstance(self._capture, MonitorChoice) and self._capture.monitors:
            box = bounding_box(self._capture.monitors)
            largest = max(box.width, largest[0]), max(box.height, largest[1])
        self.congestion = video_sender.negotiate(
            transceiver, track, offer_sdp, largest, self._stream.fps, self._stream.bitrate,
            self.session_id,
        )  # fmt: skip
        answer = await self._pc.createAnswer()
        track.codec = video_sender.negotiated_codec(answer.sdp)
        await self._pc.setLocalDescription(answer)
        local = str(self._pc.localDescription.sdp)
        if self.start.ice_policy == "relay":
            # aiortc gathers only relay candidates under RELAY; should it ever not, none
            # of this PC's own addresses leaves it anyway.
            local = filter_sdp_candidates(local, is_relay_line)
        await self._check_sdp(local, SdpRole.ANSWER_FROM_HOST)
        self._guard.begin()
        log.info("session %s: answering with %s", self.session_id, track.codec.value)
        return local

    async def _check_sdp(self, sdp: str, role: SdpRole) -> None:
        try:
            check_session_description(sdp, role)
        except SdpPolicyError as exc:
            log.warning("session %s: %s refused: %s", self.session_id, role.name, exc)
            await self._report("sdp_refused", str(exc)[:200])
            raise

    def _report_activity(self) -> None:
        """Tell the broker input arrived (the guard rate-limits the calls)."""
        if self._activity is not None:
            self._spawn(self._activity())

    async def _end_by_guard(self, reason: str) -> None:
        """The guard ends the session (violation, idle, maximum): tell the broker why."""
        await self.close()
        await self._on_ended(reason)

    def _unannounced_stream(self, exc: PolicyViolation) -> None:
        """Data on a stream no channel was opened for (``data_channels``): reported (and by
        default the session ended) through the guard."""
        self.input_stats.refused_channels += 1
        if self._guard is not None:
            self._spawn(self._guard.violation(exc))

    def _refuse(self, channel: RTCDataChannel, exc: PolicyViolation) -> None:
        """Stop the channel's traffic; report (and by default end) through the guard.

        When the session ends, closing the peer connection closes every channel with it;
        closing one here from inside its own message handler as well would leave aiortc's
        SCTP shutdown waiting for a stream reset that never completes.
        """
        channel.remove_all_listeners("message")
        if not self.start.end_on_violation:
            channel.close()
        if self._guard is not None:
            self._spawn(self._guard.violation(exc))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def add_candidate(self, candidate: str, sdp_mid: str | None, index: int | None) -> None:
        """Add a trickled remote candidate; an empty one marks the end of candidates."""
        if not candidate:
            return  # aiortc gathers nothing more from an end-of-candidates marker
        if not self._admit_candidate(candidate):
            return
        parsed = candidate_from_sdp(candidate.split(":", 1)[1])
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = index
        await self._pc.addIceCandidate(parsed)

    def _admit_candidate(self, line: str) -> bool:
        """Check a remote candidate (trickled or in the offer); the first refusal an
        honest browser never causes is reported to the broker, once per session."""
        refusal = self._candidates.admit(line)
        if refusal is None:
            return True
        if refusal.probe and not self._candidate_reported:
            self._candidate_reported = True
            log.warning("session %s: remote candidate refused: %s", self.session_id, refusal.token)
            detail = f"{refusal.token}: {line[:120]}"

            async def report() -> None:
                await self._report("ice_candidate_refused", detail)

            self._spawn(report())
        return False

    async def close(self) -> None:
        """End the session: release held input, stop the track, close the peer connection."""
        if self._closed:
            return
        self._closed = True
        self._monitors.cancel()
        await self._inputs.close()
        if self._guard is not None:
            await self._guard.close()
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        if self._tiles is not None:
            self._tiles.close()
        # The peer connection first: its sender stops asking the track for frames, then the
        # track's encode thread can shut down without a frame in flight.
        await self._pc.close()
        if self._track is not None:
            self._track.stop()
        log.info(
            "session %s closed: %d input events injected, %d invalid dropped",
            self.session_id,
            self.input_stats.injected,
            self.input_stats.invalid,
        )

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        try:
            # Only one channel exists in this product: clipboard or file channels have no
            # code behind them, and any other label is refused outright.
            check_channel_label(channel.label, already_open=self._input_channel is not None)
        except PolicyViolation as exc:
            self.input_stats.refused_channels += 1
            log.warning("session %s: refused data channel %r", self.session_id, channel.label)
            self._refuse(channel, exc)
            return
        self._input_channel = self._monitors.channel = channel
        channel.on("message", self._on_input)
        self._start_cursor(channel)
        self._tiles = attach_tiles(self._track, channel)
        if channel.readyState == "open":
            self._monitors.announce()
        else:
            channel.on("open", self._monitors.announce)

    def _switched(self, geometry: ScreenGeometry) -> None:
        """The viewer's chosen monitor is captured: pointer positions map onto it from now
        on, and the cursor is watched relative to it (``MonitorSwitch``)."""
        self._geometry = geometry
        if self._guard is not None:
            self._guard.input_policy.width = geometry.width
            self._guard.input_policy.height = geometry.height
        self.input_stats.monitor_switches += 1
        log.info("session %s: capturing %dx%d at %d,%d", self.session_id, geometry.width,
                 geometry.height, geometry.left, geometry.top)  # fmt: skip
        if self._cursor is not None:  # positions are relative to the captured area
            self._cursor.close()
            self._cursor = None
        if self._input_channel is not None:
            self._start_cursor(self._input_channel)

    async def _capture_failed(self) -> None:
        await self.close()
        await self._on_ended("capture_failed")

    def _start_cursor(self, channel: RTCDataChannel) -> None:
        source = None if self._track is None else self._track.source
        if source is None or self._cursor is not None:
            return

        def send(message: str) -> None:
            # Behind a congested channel a cursor message is stale before it arrives; the
            # next one replaces it (input in the other direction has its own queue).
            if channel.readyState == "open" and channel.bufferedAmount < MAX_CURSOR_BACKLOG:
                channel.send(message)

        try:
            watcher = self._capture.open_cursor(source, asyncio.get_running_loop(), send)
        except Exception as exc:  # no XFixes (or no X): the viewer keeps its own cursor
            log.warning("session %s: no cursor shapes: %s", self.session_id, exc)
            return
        self._cursor = watcher
        if channel.readyState == "open":
            watcher.start()
        else:
            channel.on("open", watcher.start)

    def _on_input(self, message: str | bytes) -> None:
        geometry, guard = self._geometry, self._guard
        if geometry is None or guard is None:
            return
        try:
            # Whether the viewer draws lossless tiles: not input either.
            overlay = parse_tile_overlay_state(message)
        except TileOverlayMessageError as exc:
            self.input_stats.invalid += 1
            log.warning("session %s: bad tiles message: %s", self.session_id, exc)
            return
        if overlay is not None:
            if self._track is not None:
                self._track.tile_overlay_works = overlay
            return
        try:
            # Choosing what to see is not input: allowed in view-only sessions too.
            choice = parse_monitor_choice(message)
        except MonitorMessageError as exc:
            self.input_stats.refused_switches += 1
            log.warning("session %s: bad monitor choice: %s", self.session_id, exc)
            return
        if choice is not None:
            if not self._monitors.choose(choice, self._track):
                self.input_stats.refused_switches += 1
            return
        try:
            event = guard.admit(message)
        except PolicyViolation as exc:
            self.input_stats.violations += 1
            if self._input_channel is not None:
                self._refuse(self._input_channel, exc)
            return
        except TextNotAdmitted as exc:
            self.input_stats.refused_text += 1
            self._spawn(guard.text_refused(exc))
            return
        except InvalidInput as exc:
            self.input_stats.invalid += 1
            if self.input_stats.invalid <= MAX_LOGGED_INVALID:
                log.warning("session %s: dropped input: %s", self.session_id, exc)
            return
        # The video shows the captured monitor; the display's coordinates are offset by it.
        if isinstance(event, PointerMove | PointerButton | Wheel):
            event = dataclasses.replace(event, x=event.x + geometry.left, y=event.y + geometry.top)
        # Queued, not injected here: typing text can take a while, and a key that follows
        # it must not overtake it (injection_queue).
        self._inputs.put(event)
        self.input_stats.injected += 1
        if self._track is not None:
            self._track.note_input()

    async def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        log.info("session %s: peer connection %s", self.session_id, state)
        if state in {"failed", "closed"} and not self._closed:
            await self.close()
            await self._on_ended("peer_" + state)


async def close_quietly(session: PeerSession | None) -> None:
    """Close a session, logging rather than raising: used on teardown paths."""
    if session is None:
        return
    try:
        await session.close()
    except Exception:
        log.exception("session %s: error while closing", session.session_id)
