"""A real agent on Xvfb streams to a real aiortc viewer through a real broker."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from host_agent.broker_link import BrokerLink
from host_agent.peer_session import PeerSession
from tests.conftest import HOST_ID
from tests.support.broker import RunningBroker
from tests.support.display import SampleApp
from tests.support.identity import SignedIn
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
        for _ in range(15):
            frame = await viewer.next_frame()
        assert (frame.width, frame.height) == (1280, 720)
        assert np.abs(header_colour(viewer) - HEADER_RGB).max() < 12
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


async def test_bad_input_is_dropped_and_counted_never_injected(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """Invalid input messages are counted and nothing reaches the app."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        session = await live_session(agent)
        bad = [
            json.dumps({"t": "key", "code": "KeyX", "key": "x", "down": "yes"}),
            json.dumps({"t": "clipboard", "text": "secret"}),
            json.dumps({"t": "move", "x": 99999, "y": 0}),
            "x" * 1000,
        ]
        for message in bad:
            await viewer.send_input(message)
        await wait_until(lambda: session.input_stats.invalid == len(bad))
        assert session.input_stats.injected == 0
        assert "x" not in sample_app.state()["notes"]


async def test_any_other_data_channel_is_closed_by_the_agent(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """A `clipboard` channel opened by the viewer is refused: the agent closes it."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        channel = viewer.pc.createDataChannel("clipboard")
        await wait_until(lambda: channel.readyState == "closed")
        session = await live_session(agent)
        assert session.input_stats.refused_channels == 1
