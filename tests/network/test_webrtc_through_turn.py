"""The kit carries real WebRTC: two aiortc peers, one in the clinic and one in a home whose
router passes only TCP 443, each on a loop inside its namespace, connect relay-to-relay
through coturn (UDP 3478 from the clinic, TLS 443 from the home) over emulated access
links, and exchange data-channel messages. A smoke test of the foundation the reach issue
builds on, not of the agent or the viewer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)

from devkit.internet import CLINIC, HOME, INTERNET, clinic_and_home
from devkit.link_model import LinkConfig
from devkit.netns import build
from devkit.netns_loop import namespace_loop
from devkit.turn import TurnServer, rest_credential, running_turn

pytestmark = [pytest.mark.network, pytest.mark.usefixtures("coturn")]


def relay_only(server: TurnServer, url: str, user: str) -> RTCConfiguration:
    username, password = rest_credential(server.secret, user, valid_for=300)
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=[url], username=username, credential=password)],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


async def test_data_channel_relay_to_relay_from_a_443_only_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clinic offers over TURN/UDP, the home answers over TURN/TLS 443 behind its
    443-only router (emulated links: home 10 ms, clinic 5 ms each way); only relay
    candidates appear in either SDP, the data channel opens, and messages cross both ways."""
    async with (
        build(
            clinic_and_home(
                home_link=LinkConfig(delay=0.010),
                clinic_link=LinkConfig(delay=0.005),
                home_egress_tcp=(443,),
            )
        ) as topo,
        running_turn(topo, INTERNET, "203.0.113.1", tmp_path) as turn,
        namespace_loop(topo.netns(CLINIC)) as clinic,
        namespace_loop(topo.netns(HOME)) as home,
    ):
        # aiortc opens turns: with the default TLS context: trust the run's CA for it.
        monkeypatch.setenv("SSL_CERT_FILE", str(turn.ca_file))
        clinic_config = relay_only(turn, "turn:203.0.113.1:3478?transport=udp", "clinic")
        home_config = relay_only(turn, "turns:203.0.113.1:443?transport=tcp", "home")
        got_at_home: asyncio.Queue[str] = asyncio.Queue()  # read on this (the test's) loop
        test_loop = asyncio.get_running_loop()

        async def offer() -> tuple[RTCPeerConnection, asyncio.Queue[str], str]:
            pc = RTCPeerConnection(clinic_config)
            replies: asyncio.Queue[str] = asyncio.Queue()
            channel = pc.createDataChannel("input")

            @channel.on("open")
            def _open() -> None:
                channel.send("from the clinic")

            @channel.on("message")
            def _message(message: str) -> None:
                replies.put_nowait(message)

            await pc.setLocalDescription(await pc.createOffer())
            return pc, replies, pc.localDescription.sdp

        async def answer(sdp: str) -> tuple[RTCPeerConnection, str]:
            pc = RTCPeerConnection(home_config)

            @pc.on("datachannel")
            def _channel(channel: object) -> None:
                @channel.on("message")  # type: ignore[attr-defined]
                def _message(message: str) -> None:
                    test_loop.call_soon_threadsafe(got_at_home.put_nowait, message)
                    channel.send("from the home")  # type: ignore[attr-defined]

            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return pc, pc.localDescription.sdp

        started = time.monotonic()
        pc_clinic, replies, offer_sdp = await clinic.run(offer())
        pc_home, answer_sdp = await home.run(answer(offer_sdp))
        await clinic.run(
            pc_clinic.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        )
        try:
            assert await asyncio.wait_for(got_at_home.get(), 20) == "from the clinic"
            assert await clinic.run(asyncio.wait_for(replies.get(), 10)) == "from the home"
            elapsed = time.monotonic() - started
            for sdp in (offer_sdp, answer_sdp):
                candidates = [x for x in sdp.splitlines() if x.startswith("a=candidate:")]
                assert candidates
                assert all(" typ relay" in c for c in candidates), candidates
            assert elapsed < 10, elapsed  # measured ~0.7 s
        finally:
            await clinic.run(pc_clinic.close())
            await home.run(pc_home.close())
