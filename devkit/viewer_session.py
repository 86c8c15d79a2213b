"""The agent in this process streaming to the real viewer in headless Chromium.

For the benches that watch the agent from the inside (its tiles, its refinements: they
patch the agent's classes, so it must run in their process): ``bench/settled_tiles.py`` and
``bench/typing_bytes.py``. A doctor signs in on an approved browser and opens the host;
the context yields the page once the viewer is connected and its video plays.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Page, async_playwright

from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.browser import approve_this_browser, sign_in
from devkit.chromium import CHROMIUM, chromium_args
from devkit.identity import make_org, make_person
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.platform.backends import open_injector
from host_agent.webrtc.peer_session import StreamSettings


@contextlib.asynccontextmanager
async def agent_and_viewer(
    broker: RunningBroker, display: str, runs_dir: Path, host_id: str, lossless_tiles: bool
) -> AsyncIterator[Page]:
    """An agent for ``host_id`` on ``display`` and a doctor's viewer page showing it."""
    org = await make_org(broker, "bench")
    person = await make_person(broker, org, "doctor")
    state = await enroll_agent(broker, org, host_id, runs_dir / "agent", "bench")
    injector = open_injector(display)
    link = BrokerLink(
        LinkSettings(broker.agent_wss_url, host_id, "bench", state.ssl_context),
        StreamSettings(display=display, lossless_tiles=lossless_tiles),
        injector,
    )
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(runs_dir / "profile"), executable_path=CHROMIUM, headless=True,
                args=chromium_args(broker.certs.spki_sha256_b64),
                viewport={"width": 1400, "height": 900},
            )  # fmt: skip
            try:
                page = await context.new_page()
                await sign_in(page, broker, person)
                await approve_this_browser(page, broker, person)
                await page.goto(f"{broker.public_origin}/viewer.html#/host/{host_id}")
                await page.wait_for_function(
                    "() => document.body.dataset.connection === 'connected'"
                    " && document.body.dataset.video === 'playing'",
                    timeout=20_000,
                )
                yield page
            finally:
                await context.close()
    finally:
        await link.stop()
        await task
        injector.close()
