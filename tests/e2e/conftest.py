"""Real headless Chromium (Debian's) for the e2e tier, and signing in through the pages."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright

from tests.support.broker import RunningBroker

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def browser(tmp_path: Path, broker: RunningBroker) -> AsyncIterator[BrowserContext]:
    """Debian's Chromium, headless, trusting only this test broker's key (SPKI pin)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: deploy/setup.sh installs Debian's chromium")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--ignore-certificate-errors-spki-list={broker.certs.spki_sha256_b64}",
                # Media stays on loopback in tests (see the loopback_ice fixture).
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ],
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await context.close()
