"""Real headless Chromium (Debian's) for the e2e tier, and signing in through the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from devkit.broker import RunningBroker
from devkit.chromium import chromium


@pytest.fixture
async def browser(tmp_path: Path, broker: RunningBroker) -> AsyncIterator[BrowserContext]:
    """Debian's Chromium, headless, trusting only this test broker's key (SPKI pin)."""
    async with chromium(tmp_path / "profile", broker.certs.spki_sha256_b64) as context:
        yield context
