"""A viewer made of a real aiortc peer, speaking the same signaling as the browser."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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

from broker import protocol
from broker.protocol import Direction
from tests.support.broker import RunningBroker
from tests.support.identity import SignedIn


@dataclass
class AiortcViewer:
    ws: ClientConnection
    pc: RTCPeerConnection
    input: RTCDataChannel
    track: MediaStreamTrack
    receiver: RTCRtpReceiver
    codec: str
    frames: list[av.VideoFrame] = field(default_factory=list)

    async def next_frame(self, timeout: float = 10.0) -> av.VideoFrame:
        frame = await asyncio.wait_for(self.track.recv(), timeout)
        self.frames.append(frame)
        return frame

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
    broker: RunningBroker, user: SignedIn, host_id: str, codec: str = "video/H264"
) -> AsyncIterator[AiortcViewer]:
    """Join ``host_id`` as ``user`` (session cookie and a fresh ticket) and negotiate a
    receive-only video session."""
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
        try:
            await ws.send(protocol.encode(protocol.ViewerJoin(host_id)))
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send(protocol.encode(protocol.Offer(pc.localDescription.sdp)))
            answer = protocol.parse(
                await asyncio.wait_for(ws.recv(), 20), Direction.BROKER_TO_VIEWER
            )
            if not isinstance(answer, protocol.Answer):
                raise AssertionError(f"expected an answer, got {answer}")
            await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
            track = await asyncio.wait_for(got_track, 10)
            yield AiortcViewer(ws, pc, channel, track, transceiver.receiver, codec)
        finally:
            await pc.close()
