"""Several monitors, for real: an Xvfb whose framebuffer holds two RandR 1.5 monitors of
different sizes, each painted its own colour; a real agent streams it through a real broker
to a real aiortc viewer, which is told the monitors, switches between them and clicks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

from devkit.agent import running_agent
from devkit.broker import RunningBroker
from devkit.display import XvfbDisplay, start_multi_monitor_xvfb
from devkit.identity import SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.trust.credentials import AgentState
from host_agent.video.monitors import x11_monitors
from host_agent.webrtc.peer_session import PeerSession
from mamori_protocol.monitors import (
    ALL_MONITORS,
    Monitor,
    monitor_choice,
    parse_monitors_message,
)
from tests.conftest import HOST_ID
from tests.support.monitors import LEFT, LEFT_RGB, NEW_RIGHT_RGB, RIGHT, RIGHT_RGB, Painted
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]


@pytest.fixture
def xvfb() -> Iterator[XvfbDisplay]:
    with start_multi_monitor_xvfb([LEFT, RIGHT]) as display:
        yield display


@pytest.fixture
async def agent(
    broker: RunningBroker, agent_state: AgentState, xvfb: XvfbDisplay, loopback_ice: None
) -> AsyncIterator[tuple[BrokerLink, Painted]]:
    painted = Painted(xvfb.name)
    try:
        async with running_agent(broker, agent_state, xvfb.name, HOST_ID, "受付") as link:
            yield link, painted
    finally:
        painted.close()


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def frame_of(viewer: AiortcViewer, width: int, height: int) -> np.ndarray:
    """The first decoded frame of this size (frames of the old monitor may still come)."""
    for _ in range(300):
        frame = await viewer.next_frame()
        if (frame.width, frame.height) == (width, height):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no {width}x{height} frame")


def colour(rgb: np.ndarray, x: int, y: int, w: int, h: int) -> tuple[int, ...]:
    return tuple(int(c) for c in np.median(rgb[y : y + h, x : x + w].reshape(-1, 3), axis=0))


def near(found: tuple[int, ...], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(found, wanted, strict=True))


def monitor_lists(viewer: AiortcViewer) -> list[tuple[list[Monitor], int]]:
    return [
        parse_monitors_message(m)
        for m in viewer.host_messages
        if isinstance(m, str) and json.loads(m)["t"] == "monitors"
    ]


def session_of(link: BrokerLink) -> PeerSession:
    assert link.session is not None
    return link.session


async def click(viewer: AiortcViewer, x: int, y: int) -> None:
    for kind in ("down", "up"):
        await viewer.send_input(json.dumps({"t": kind, "b": 0, "x": x, "y": y}))


def test_the_agent_reads_randr_monitors_mss_does_not_see(xvfb: XvfbDisplay) -> None:
    """Two monitors of different sizes on one Xvfb, numbered left to right, the first primary."""
    assert x11_monitors(xvfb.name) == [
        Monitor(0, 0, 0, 800, 600, primary=True),
        Monitor(1, 800, 0, 640, 480, primary=False),
    ]


@pytest.mark.parametrize("codec", ["video/H264", "video/VP8"])
async def test_the_viewer_switches_monitors_and_clicks_land_on_the_chosen_one(
    broker: RunningBroker, user: SignedIn, agent: tuple[BrokerLink, Painted], codec: str
) -> None:
    """Each switch is a new picture size: our x264 starts over with a keyframe, aiortc's
    VP8 encoder (the fallback) makes itself anew."""
    link, painted = agent
    async with aiortc_viewer(broker, user, HOST_ID, codec=codec) as viewer:
        # The primary first, and the list of both.
        rgb = await frame_of(viewer, 800, 600)
        assert near(colour(rgb, 300, 200, 200, 200), LEFT_RGB)
        await wait_until(lambda: monitor_lists(viewer))
        monitors, selected = monitor_lists(viewer)[-1]
        assert [(m.width, m.height) for m in monitors] == [(800, 600), (640, 480)]
        assert selected == 0

        await click(viewer, 100, 50)
        await wait_until(lambda: painted.drain() or painted.presses)
        assert painted.presses[-1] == ("left", 100, 50, 100, 50)

        # The right monitor: its own size and colour, and a click lands on it.
        await viewer.send_input(monitor_choice(1))
        rgb = await frame_of(viewer, 640, 480)
        assert near(colour(rgb, 200, 150, 200, 150), RIGHT_RGB)
        await wait_until(lambda: monitor_lists(viewer)[-1][1] == 1)
        session = session_of(link)
        assert session.input_stats.monitor_switches == 1
        # Drawing on that monitor reaches the viewer: XDamage reports root coordinates,
        # the capture's are the monitor's.
        painted.repaint("right", NEW_RIGHT_RGB)
        for _ in range(100):
            rgb = await frame_of(viewer, 640, 480)
            if near(colour(rgb, 200, 150, 200, 150), NEW_RIGHT_RGB):
                break
        else:
            raise AssertionError("drawing on the chosen monitor never reached the viewer")
        await click(viewer, 100, 50)
        await wait_until(lambda: painted.drain() or len(painted.presses) >= 2)
        assert painted.presses[-1] == ("right", 100, 50, 900, 50)
        # Pointer positions are checked against the chosen monitor: x 700 is off a 640 one.
        invalid = session.input_stats.invalid
        await viewer.send_input(json.dumps({"t": "move", "x": 700, "y": 10}))
        await wait_until(lambda: session.input_stats.invalid == invalid + 1)

        # All as one desktop: both colours where they are, the dead corner under the small
        # monitor black, and a click at desktop coordinates.
        await asyncio.sleep(1.0)  # the switch limit: one a second after a burst of three
        await viewer.send_input(monitor_choice(ALL_MONITORS))
        # The first picture of the new size is a keyframe at the start of a rate ramp (VP8
        # once gave the black corner (13, 0, 4) there); the settled picture must be right.
        for _ in range(60):
            rgb = await frame_of(viewer, 1440, 600)
            found = [
                colour(rgb, 300, 200, 200, 200),
                colour(rgb, 1000, 150, 200, 150),
                colour(rgb, 1000, 520, 200, 60),
            ]
            if all(map(near, found, (LEFT_RGB, NEW_RIGHT_RGB, (0, 0, 0)))):
                break
        else:
            raise AssertionError(f"the whole desktop never showed its colours: {found}")
        await wait_until(lambda: monitor_lists(viewer)[-1][1] == ALL_MONITORS)
        await click(viewer, 1300, 400)
        await wait_until(lambda: painted.drain() or len(painted.presses) >= 3)
        assert painted.presses[-1] == ("right", 500, 400, 1300, 400)


async def test_bad_choices_are_refused_and_the_picture_stays(
    broker: RunningBroker, user: SignedIn, agent: tuple[BrokerLink, Painted]
) -> None:
    """A monitor that does not exist, a malformed choice: refused and counted; the session
    and the picture go on (choosing what to see is not an attack on the channel)."""
    link, _ = agent
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await frame_of(viewer, 800, 600)
        session = session_of(link)
        await viewer.send_input(monitor_choice(7))
        await viewer.send_input(json.dumps({"t": "monitor", "id": 1, "x": 0}))
        await viewer.send_input(json.dumps({"t": "monitor", "id": "1"}))
        await wait_until(lambda: session.input_stats.refused_switches == 3)
        assert session.input_stats.monitor_switches == 0
        rgb = await frame_of(viewer, 800, 600)
        assert near(colour(rgb, 300, 200, 200, 200), LEFT_RGB)
        # A flood of valid choices: a few rebuilds at most, the rest refused and counted.
        stats = session.input_stats
        for index in range(12):
            await viewer.send_input(monitor_choice(index % 2))
        await wait_until(lambda: stats.monitor_switches + stats.refused_switches == 15)
        assert stats.monitor_switches <= 3


async def test_a_session_ending_mid_switch_ends_quietly(
    broker: RunningBroker,
    user: SignedIn,
    agent: tuple[BrokerLink, Painted],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The viewer leaves while the agent rebuilds the capture: the switch is abandoned, not
    reported as a capture failure, and the next session starts on the primary again."""
    link, _ = agent
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await frame_of(viewer, 800, 600)
        await viewer.send_input(monitor_choice(1))
    await wait_until(lambda: link.session is None)
    assert "cannot be captured" not in caplog.text
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await frame_of(viewer, 800, 600)
