"""The pixel-only policy end to end: the watermark is in what the viewer decodes (and not on
the host's screen), and idle and maximum time end sessions, with the clock shortened by
setting rather than by sleeping minutes."""

from __future__ import annotations

import asyncio
import datetime as dt

import mss
import numpy as np
import pytest
from sqlalchemy import select

import mamori_protocol as protocol
from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.video.watermark import Watermark, WatermarkIdentity
from mamori_protocol import Direction
from tests.conftest import HOST_ID
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]


async def next_signal(viewer: AiortcViewer, timeout: float = 15) -> protocol.Message:
    return protocol.parse(
        await asyncio.wait_for(viewer.ws.recv(), timeout), Direction.BROKER_TO_VIEWER
    )


async def ended_with(broker: RunningBroker, reason: str) -> bool:
    """Whether the audit trail records a session that ended for ``reason`` (written just
    after the viewer is told, so it is polled for a moment)."""
    for _ in range(100):
        async with broker.db.session() as s:
            rows = await s.scalars(select(AuditEvent).where(AuditEvent.event == "session_ended"))
            if any(f"reason={reason} " in row.detail for row in rows):
                return True
        await asyncio.sleep(0.05)
    return False


async def test_watermark_is_in_the_decoded_frame_and_not_on_the_screen(
    broker: RunningBroker,
    user: SignedIn,
    agent: BrokerLink,
    sample_app: SampleApp,
    xvfb: XvfbDisplay,
) -> None:
    """Where the watermark's mask is set, the decoded picture differs from the host's raw
    screen; elsewhere it matches it: the mark is burned in on the way out, not on the PC."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        for _ in range(40):
            await viewer.next_frame()
        await asyncio.sleep(1.0)  # let the refinement settle the picture
        frame = await viewer.next_frame()
        decoded = frame.to_ndarray(format="rgb24").astype(np.int16)
        session = agent.session
        assert session is not None
        start = session.start
    with mss.MSS(display=xvfb.name) as grabber:
        shot = grabber.grab({"left": 0, "top": 0, "width": 1280, "height": 720})
    raw = np.frombuffer(shot.rgb, dtype=np.uint8).reshape(720, 1280, 3).astype(np.int16)
    difference = np.abs(decoded - raw).mean(axis=-1)
    mark = Watermark(
        WatermarkIdentity(start.viewer_name, start.viewer_id, start.organization, start.session_id),
        1280,
        720,
    )
    best = 0.0
    now = dt.datetime.now(dt.UTC)
    for minute in (now, now - dt.timedelta(minutes=1)):  # the frame may predate a new minute
        mark.apply(np.zeros((720, 1280, 4), np.uint8), minute)
        inside = mark.mask_rect(0, 0, 1280, 720) > 16
        best = max(best, float(difference[inside].mean() - difference[~inside].mean()))
    assert best > 8, f"no watermark found in the decoded frame (separation {best:.1f})"
    assert start.watermark


@pytest.mark.parametrize("broker", [{"remote_max_s": 4, "remote_warn_s": 2}], indirect=True)
async def test_maximum_session_time_warns_then_ends(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """With a 4 s maximum and a 2 s warning, the viewer is told the session ends soon, then
    it ends with max_session_time, and the end is audited."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        messages = [await next_signal(viewer) for _ in range(2)]
    assert messages == [protocol.Notice("ending_soon", 2), protocol.Bye("max_session_time")]
    assert await ended_with(broker, "max_session_time")


@pytest.mark.parametrize("broker", [{"remote_idle_s": 2}], indirect=True)
async def test_idle_session_ends_and_the_second_factor_is_asked_again(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink
) -> None:
    """Two seconds without input end the session with idle_timeout (the agent enforces it),
    and the browser session must show its second factor again before any new viewer."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        bye = await next_signal(viewer)
    assert bye == protocol.Bye("idle_timeout")
    assert await ended_with(broker, "idle_timeout")
    session = await user.http.get("/api/session")
    assert session.json()["state"] == "mfa", session.text
    refused = await user.post("/api/viewer-tickets", json={"host_id": HOST_ID})
    assert refused.status_code in {401, 403}
