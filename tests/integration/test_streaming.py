"""A real agent on Xvfb streams to a real aiortc viewer through a real broker."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import numpy as np
import pytest
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci
from sqlalchemy import select
from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest

import mamori_protocol as protocol
from broker.db.models import AuditEvent
from devkit.agent import running_agent
from devkit.broker import RunningBroker
from devkit.display import SampleApp, XvfbDisplay, start_xvfb
from devkit.identity import SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.trust.credentials import AgentState
from host_agent.webrtc import negotiation
from host_agent.webrtc.peer_session import PeerSession
from mamori_protocol import Direction
from tests.conftest import HOST_ID
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]

HEADER_RGB = np.array([0x1E, 0x6B, 0x5C])  # the sample app's header bar colour


async def live_session(agent: BrokerLink) -> PeerSession:
    for _ in range(200):
        if agent.session is not None and agent.session.track is not None:
            return agent.session
        await asyncio.sleep(0.05)
    raise AssertionError("agent never started a session")


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def header_colour(viewer: AiortcViewer) -> np.ndarray:
    rgb = viewer.frames[-1].to_ndarray(format="rgb24")
    # A text-free patch at the right end of the header bar; the median ignores codec ringing.
    return np.median(rgb[6:20, 1150:1270].reshape(-1, 3), axis=0)


@pytest.mark.parametrize("codec", ["video/H264", "video/VP8"])
async def test_viewer_decodes_the_host_screen(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp, codec: str
) -> None:
    """Frames decode at the host's size and show the sample app's header colour; VP8 is the
    fallback when the viewer offers no H.264."""
    async with aiortc_viewer(broker, user, HOST_ID, codec) as viewer:
        # Quality builds up after the first frames (our refinement; VP8's rate control).
        for _ in range(60):
            frame = await viewer.next_frame()
            if np.abs(header_colour(viewer) - HEADER_RGB).max() < 8:
                break
        assert (frame.width, frame.height) == (1280, 720)
        assert np.abs(header_colour(viewer) - HEADER_RGB).max() < 8
        session = await live_session(agent)
        assert session.track is not None
        assert session.track.codec.value == codec


async def test_keyframe_request_yields_an_idr(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """A PLI from the viewer makes our own encoder emit a keyframe on the next frames."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        for _ in range(5):
            await viewer.next_frame()
        track = (await live_session(agent)).track
        assert track is not None
        before = track.stats.keyframes
        await viewer.request_keyframe()
        await wait_until(lambda: track.stats.keyframe_requests >= 1)
        await wait_until(lambda: track.stats.keyframes > before)
        for _ in range(3):
            frame = await viewer.next_frame()
        assert frame.width == 1280


async def test_input_channel_types_and_clicks_into_the_host_app(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """Pointer and key messages on `input` reach the app; the save button's effect shows."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        x, y = sample_app.center("notes")
        for message in (
            {"t": "move", "x": x, "y": y},
            {"t": "down", "b": 0, "x": x, "y": y},
            {"t": "up", "b": 0, "x": x, "y": y},
        ):
            await viewer.send_input(json.dumps(message))
        for char, code in (("m", "KeyM"), ("a", "KeyA"), ("M", "KeyM")):
            for down in (True, False):
                await viewer.send_input(
                    json.dumps({"t": "key", "code": code, "key": char, "down": down})
                )
        await sample_app.wait_for_async(lambda s: "maM" in s["notes"])
        bx, by = sample_app.center("save_button")
        await viewer.send_input(json.dumps({"t": "down", "b": 0, "x": bx, "y": by}))
        await viewer.send_input(json.dumps({"t": "up", "b": 0, "x": bx, "y": by}))
        await sample_app.wait_for_async(lambda s: s["saves"] == 1)


async def test_bad_values_are_dropped_and_counted_never_injected(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """Input messages with bad values are counted, nothing reaches the app, the session
    goes on."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        session = await live_session(agent)
        bad = [
            json.dumps({"t": "key", "code": "KeyX", "key": "x", "down": "yes"}),
            json.dumps({"t": "move", "x": 99999, "y": 0}),
            json.dumps({"t": "key", "code": "KeyX", "key": "x"}),
        ]
        for message in bad:
            await viewer.send_input(message)
        await wait_until(lambda: session.input_stats.invalid == len(bad))
        assert session.input_stats.injected == 0
        assert "x" not in sample_app.state()["notes"]
        assert agent.session is session


async def policy_violations(broker: RunningBroker) -> list[str]:
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.event == "policy_violation").order_by(AuditEvent.id)
        )
        return [row.detail for row in rows]


async def bye_reason(viewer: AiortcViewer) -> str:
    while True:
        message = protocol.parse(
            await asyncio.wait_for(viewer.ws.recv(), 10), Direction.BROKER_TO_VIEWER
        )
        if isinstance(message, protocol.Bye):
            return message.reason


@pytest.mark.parametrize(
    "attack",
    [
        json.dumps({"t": "clipboard", "text": "患者の病名"}),
        json.dumps({"t": "file", "name": "karte.pdf", "data": "JVBERi0xLjQ="}),
        "x" * 1000,
    ],
    ids=["clipboard-message", "file-message", "oversized"],
)
async def test_a_foreign_message_ends_the_session_and_is_audited(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp, attack: str
) -> None:
    """A `clipboard` or `file` message, or an oversized one, on the input channel: the
    channel is closed, the broker audits the violation and the viewer is told why it ended."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        await viewer.send_input(attack)
        assert await bye_reason(viewer) in {"foreign_message", "oversized_message"}
        await wait_until(lambda: agent.session is None)
        assert viewer.input.readyState == "closed"
    violations = await policy_violations(broker)
    assert len(violations) == 1
    assert "violation=foreign_message" in violations[0] or "oversized" in violations[0]
    assert sample_app.state()["notes"] == ""


async def test_any_other_data_channel_ends_the_session_and_is_audited(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """A `clipboard` channel opened by the viewer is closed by the agent, audited, and the
    session ends with the reason."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        channel = viewer.pc.createDataChannel("clipboard")
        assert await bye_reason(viewer) == "foreign_channel"
        await wait_until(lambda: channel.readyState == "closed")
    violations = await policy_violations(broker)
    assert len(violations) == 1
    assert "violation=foreign_channel" in violations[0]


async def test_a_channel_negotiated_out_of_band_ends_the_session_and_is_audited(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """A second channel agreed out of band (no DCEP open, so the agent never hears of it)
    that carries data is refused as a foreign channel, audited, and ends the session."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        sneaky = viewer.pc.createDataChannel("exfil", negotiated=True, id=7)
        await wait_until(lambda: sneaky.readyState == "open")
        sneaky.send(json.dumps({"t": "key", "code": "KeyQ", "key": "q", "down": True}))
        assert await bye_reason(viewer) == "foreign_channel"
    violations = await policy_violations(broker)
    assert len(violations) == 1
    assert "unannounced stream 7" in violations[0]
    assert "q" not in sample_app.state()["notes"]


async def test_the_answer_offers_loss_repair_and_a_level_for_the_screen(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """NACK and RTX are negotiated for H.264, and its profile-level-id allows 1280x720 at
    60 fps (level 3.2), not aiortc's fixed 3.1."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        sdp = viewer.answer_sdp
        h264 = re.search(r"a=rtpmap:(\d+) H264/90000", sdp)
        assert h264 is not None
        pt = h264.group(1)
        assert f"a=rtcp-fb:{pt} nack\r\n" in sdp
        assert re.search(rf"a=fmtp:\d+ apt={pt}\b", sdp), "no RTX for H.264"
        assert re.search(rf"a=fmtp:{pt} .*profile-level-id=42[0-9a-f]{{2}}20", sdp)


def offer_playout_delay(sdp: str) -> str:
    """What Chromium offers and aiortc does not: the playout-delay header extension."""
    return sdp.replace(
        "a=mid:0\r\n",
        f"a=mid:0\r\na=extmap:9 {negotiation.PLAYOUT_DELAY_URI}\r\n",
        1,
    )


async def test_playout_delay_is_accepted_when_offered_and_written_by_the_sender(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """The answer keeps the offered playout-delay id and the agent's sender writes it."""
    async with aiortc_viewer(broker, user, HOST_ID, edit_offer=offer_playout_delay) as viewer:
        await viewer.next_frame()
        assert f"a=extmap:9 {negotiation.PLAYOUT_DELAY_URI}" in viewer.answer_sdp
        session = await live_session(agent)
        sender = session._pc.getTransceivers()[0].sender
        extensions = sender._RTCRtpSender__rtp_header_extensions_map
        assert isinstance(extensions, negotiation.PlayoutDelayExtensionsMap)
        assert extensions.playout_delay_id == 9


async def test_remb_over_rtcp_lowers_the_target_without_a_new_encoder_or_keyframe(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """A falling REMB from the viewer (real RTCP) lowers the agent's target bitrate; the
    same encoder goes on and no keyframe is sent."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        for _ in range(3):
            await viewer.next_frame()
        track = (await live_session(agent)).track
        assert track is not None
        ssrc = viewer.media_ssrc()
        for bitrate in (5_000_000, 700_000):
            fci = pack_remb_fci(bitrate, [ssrc])
            await viewer.send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=fci))
        await wait_until(lambda: track.stats.target_bitrate < 1_000_000)
        frames, keyframes = track.stats.frames, track.stats.keyframes
        await viewer.send_input(json.dumps({"t": "move", "x": 200, "y": 200}))
        x, y = sample_app.center("notes")
        for message in (
            {"t": "down", "b": 0, "x": x, "y": y},
            {"t": "up", "b": 0, "x": x, "y": y},
            {"t": "key", "code": "KeyQ", "key": "q", "down": True},
            {"t": "key", "code": "KeyQ", "key": "q", "down": False},
        ):
            await viewer.send_input(json.dumps(message))
        await wait_until(lambda: track.stats.frames > frames)
        assert track.stats.encoder_builds == 1
        assert track.stats.keyframes == keyframes


async def test_the_host_cursor_arrives_on_the_input_channel(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, xvfb: XvfbDisplay
) -> None:
    """The agent sends the cursor's shape, then its position when the pointer moves on the
    host (no viewer input involved): closed messages, numbers only."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: any('"t":"shape"' in str(m) for m in viewer.host_messages))
        conn = xdisplay.Display(xvfb.name)
        try:
            xtest.fake_input(conn, X.MotionNotify, x=321, y=123)
            conn.sync()
        finally:
            conn.close()
        expected = {"t": "cursor", "x": 321, "y": 123, "v": True}
        texts = viewer.host_messages
        await wait_until(lambda: expected in [json.loads(m) for m in texts if isinstance(m, str)])
        for message in viewer.host_messages:
            if isinstance(message, bytes):
                # Lossless tiles of the settled screen (tests/host_agent/test_lossless_tiles.py)
                assert message[:2] == b"MT"
                continue
            # and the host's monitors (tests/integration/test_monitors.py)
            assert json.loads(message)["t"] in {"cursor", "shape", "monitors"}


@pytest.fixture
async def agent_1080p(
    broker: RunningBroker, agent_state: AgentState, loopback_ice: None
) -> AsyncIterator[BrokerLink]:
    """An enrolled agent streaming an empty 1920x1080 display."""
    with start_xvfb(1920, 1080) as display:
        async with running_agent(broker, agent_state, display.name, HOST_ID, "1080p") as link:
            yield link


async def test_1920x1080_is_negotiated_at_level_4_2_and_decoded_full_size(
    broker: RunningBroker, user: SignedIn, agent_1080p: BrokerLink
) -> None:
    """A 1080p host answers with a profile-level-id at level 4.2 (1080p at 60 fps) and the
    frames decode at 1920x1080."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        assert re.search(r"profile-level-id=42[0-9a-f]{2}2a", viewer.answer_sdp)
        frame = await viewer.next_frame()
        assert (frame.width, frame.height) == (1920, 1080)
