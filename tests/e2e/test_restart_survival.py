"""A live session survives its broker's restart (issue 18): a real broker process (SQLite)
stopped with SIGTERM or killed with SIGKILL mid-session, then started again on the same
ports, while a real agent streams the sample app to real Chromium.

The picture never stops (the longest gap between decoded frames, sampled in the page every
20 ms, stays under 1 s), typing still reaches the host, the viewer's signaling is taken back
with its resume secret (which the broker replaces), the session is re-adopted (audited
``session_resumed``), and an administrator's end after that reaches both the viewer (told
why) and the agent (its peer closed).
"""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from broker.db.models import AuditEvent, OpenSession
from broker.server.app import create_app
from certs.authority import ServerFiles
from devkit.agent import enroll_agent, running_agent
from devkit.chromium import chromium, open_viewer
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import make_org, make_person, signed_in
from tests.conftest import HOST_ID
from tests.e2e.test_browser_session import page_point
from tests.integration.test_broker_restarts import broker_process, deployment

pytestmark = [pytest.mark.e2e, pytest.mark.display]

# Longest time without a new decoded frame, from now on (reset by calling it again).
WATCH_FRAMES = """() => {
  const video = document.getElementById('remote-video');
  clearInterval(window.__gapTimer);
  let count = video.getVideoPlaybackQuality().totalVideoFrames;
  let last = performance.now();
  window.__maxGap = 0;
  window.__gapTimer = setInterval(() => {
    const now = performance.now();
    const frames = video.getVideoPlaybackQuality().totalVideoFrames;
    if (frames !== count) {
      count = frames;
      last = now;
    } else {
      window.__maxGap = Math.max(window.__maxGap, now - last);
    }
  }, 20);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def resume_hash(facade_db: object, session_id: str) -> str | None:
    async with facade_db.session() as s:  # type: ignore[attr-defined]
        row = await s.get(OpenSession, session_id)
        return row.resume_hash if row is not None else None


async def events_of(facade_db: object, event: str, session_id: str) -> list[str]:
    async with facade_db.session() as s:  # type: ignore[attr-defined]
        rows = await s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.event == event, AuditEvent.detail.contains(f"session={session_id}")
            )
        )
        return list(rows)


async def until(probe: object, timeout_s: float, what: str) -> None:
    """Poll ``probe`` (an async callable) every 100 ms until it is true, within a bound."""
    for _ in range(int(timeout_s * 10)):
        if await probe():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def connected(page: Page) -> bool:
    state: str = await page.evaluate("() => document.body.dataset.connection")
    return state == "connected"


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
async def test_the_picture_survives_a_broker_restart(
    stop: str,
    server_certs: ServerFiles,
    tmp_path: Path,
    xvfb: XvfbDisplay,
    sample_app: SampleApp,
    loopback_ice: None,
) -> None:
    d = deployment(server_certs, f"sqlite+aiosqlite:///{tmp_path / 'broker.db'}", tmp_path / "d")
    d.env.update(
        MAMORI_PORT=str(free_port()),
        MAMORI_AGENT_PORT=str(free_port()),
        MAMORI_ICE_LOOPBACK="true",
        MAMORI_SESSION_RESUME_S="30",
    )
    d.settings = d.settings.model_copy(
        update={"port": int(d.env["MAMORI_PORT"]), "agent_port": int(d.env["MAMORI_AGENT_PORT"])}
    )
    facade_app = create_app(d.settings)
    await facade_app.state.db.migrate()
    try:
        async with broker_process(d, facade_app) as first:
            facade = first.facade
            org = await make_org(facade)
            doctor = await make_person(facade, org)
            admin = await make_person(facade, org, "admin")
            state = await enroll_agent(facade, org, HOST_ID, tmp_path / "agent", "診察室1")
            async with (
                running_agent(facade, state, xvfb.name, HOST_ID, "診察室1") as agent,
                chromium(tmp_path / "profile", server_certs.spki_sha256_b64) as context,
            ):
                page = await open_viewer(context, facade, doctor, HOST_ID)
                assert agent.session is not None
                session_id = agent.session.session_id
                secret_before = await resume_hash(facade.db, session_id)
                assert secret_before is not None

                await page.evaluate(WATCH_FRAMES)
                await asyncio.sleep(1.0)
                first.process.send_signal(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
                await asyncio.wait_for(first.process.wait(), 30)
                # The broker is gone: the picture goes on (peer-to-peer), the agent keeps it.
                await asyncio.sleep(1.0)
                assert agent.session is not None
                assert agent.session.session_id == session_id
                assert agent.session_detached

                async with broker_process(d, facade_app):
                    await until(
                        lambda: events_of(facade.db, "session_resumed", session_id),
                        30,
                        "the session re-adopted",
                    )
                    await until(
                        lambda: _changed(facade.db, session_id, secret_before),
                        30,
                        "the page's signaling taken back (its secret replaced)",
                    )
                    assert not agent.session_detached
                    await asyncio.sleep(1.0)
                    gap_ms: float = await page.evaluate("() => window.__maxGap")
                    print(f"\n{stop}: longest frame gap {gap_ms:.0f} ms across the restart")
                    assert gap_ms < 1000, f"the picture stopped for {gap_ms:.0f} ms"
                    assert await connected(page)

                    # Typing still reaches the host.
                    notes_x, notes_y = sample_app.center("notes")
                    await page.mouse.click(*await page_point(page, notes_x, notes_y))
                    await page.keyboard.type("after restart", delay=40)
                    await sample_app.wait_for_async(
                        lambda s: "after restart" in s["notes"], timeout=10
                    )

                    # An administrator's end still reaches both ends.
                    async with signed_in(facade, admin) as boss:
                        answer = await boss.post(f"/api/admin/live-sessions/{session_id}/end")
                        assert answer.status_code == 200, answer.text
                    await page.wait_for_function(
                        "() => document.body.dataset.connection === 'ended'", timeout=10_000
                    )
                    await until(lambda: _no_session(agent), 10, "the agent's peer closed")
                    ended = await events_of(facade.db, "session_ended", session_id)
                    assert len(ended) == 1, ended
                    assert "reason=ended_by_admin" in ended[0]
    finally:
        await facade_app.state.db.dispose()


async def _changed(db: object, session_id: str, before: str) -> bool:
    now = await resume_hash(db, session_id)
    return now is not None and now != before


async def _no_session(agent: object) -> bool:
    return getattr(agent, "session", None) is None
