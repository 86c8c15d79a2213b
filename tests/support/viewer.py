"""A viewer made of a real aiortc peer, speaking the same signaling as the browser."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from websockets.asyncio.client import ClientConnection, connect

import mamori_protocol as protocol
from devkit.broker import RunningBroker
from devkit.identity import SignedIn
from mamori_protocol import Direction


@dataclass
class AiortcViewer:
    ws: ClientConnection
    pc: RTCPeerConnection
    input: RTCDataChannel
    track: MediaStreamTrack
    receiver: RTCRtpReceiver
    codec: str
    answer_sdp: str
    frames: list[av.VideoFrame] = field(default_factory=list)
    # What the agent sent on the `input` channel (the host's cursor), as received.
    host_messages: list[str | bytes] = field(default_factory=list)
    # Notices the broker sent before the answer (e.g. view_only).
    notices: list[protocol.Notice] = field(default_factory=list)

    async def next_frame(self, timeout: float = 10.0) -> av.VideoFrame:
        frame = await asyncio.wait_for(self.track.recv(), timeout)
        self.frames.append(frame)
        return frame

    def media_ssrc(self) -> int:
        """The SSRC of the agent's video stream, as received."""
        remote_streams = self.receiver._RTCRtpReceiver__remote_streams
        return int(next(iter(remote_streams)))

    async def send_rtcp(self, packet: object) -> None:
        """Send an RTCP packet (REMB, NACK...) to the agent; aiortc has no public call."""
        await self.receiver._send_rtcp(packet)

    async def request_keyframe(self) -> None:
        """Send an RTCP PLI for the video stream, as a browser does after loss.

        aiortc has no public call for this; its receiver's own PLI sender is used.
        """
        remote_streams = self.receiver._RTCRtpReceiver__remote_streams
        ssrc = next(iter(remote_streams))
        await self.receiver._send_rtcp_pli(ssrc)

    async def send_input(self, message: str) -> None:
        self.input.send(message)
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def aiortc_viewer(
    broker: RunningBroker,
    user: SignedIn,
    host_id: str,
    codec: str = "video/H264",
    edit_offer: Callable[[str], str] | None = None,
) -> AsyncIterator[AiortcViewer]:
    """Join ``host_id`` as ``user`` (session cookie and a fresh ticket) and negotiate a
    receive-only video session.

    ``edit_offer`` may rewrite the offer's SDP text as sent (to offer what a browser
    offers and aiortc does not, e.g. the playout-delay extension).
    """
    ticket = await user.ticket(host_id)
    async with connect(
        f"{broker.wss_url}/ws/viewer?ticket={ticket}",
        ssl=broker.client_ssl(),
        additional_headers={"Cookie": user.cookie_header()},
        origin=broker.origin,  # type: ignore[arg-type]
    ) as ws:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        channel = pc.createDataChannel("input")
        transceiver = pc.addTransceiver("video", direction="recvonly")
        codecs = [
            c
            for c in RTCRtpReceiver.getCapabilities("video").codecs
            if c.mimeType in (codec, "video/rtx")
        ]
        transceiver.setCodecPreferences(codecs)
        got_track: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        pc.on("track", lambda track: got_track.done() or got_track.set_result(track))
        host_messages: list[str | bytes] = []
        channel.on("message", host_messages.append)
        try:
            await ws.send(protocol.encode(protocol.ViewerJoin(host_id)))
            await pc.setLocalDescription(await pc.createOffer())
            offer = pc.localDescription.sdp
            await ws.send(
                protocol.encode(protocol.Offer(edit_offer(offer) if edit_offer else offer))
            )
            notices: list[protocol.Notice] = []
            while True:
                answer = protocol.parse(
                    await asyncio.wait_for(ws.recv(), 20), Direction.BROKER_TO_VIEWER
                )
                if not isinstance(answer, protocol.Notice):
                    break
                notices.append(answer)
            if not isinstance(answer, protocol.Answer):
                raise AssertionError(f"expected an answer, got {answer}")
            await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
            track = await asyncio.wait_for(got_track, 10)
            yield AiortcViewer(
                ws, pc, channel, track, transceiver.receiver, codec, answer.sdp,
                host_messages=host_messages, notices=notices,
            )  # fmt: skip
        finally:
            await pc.close()
