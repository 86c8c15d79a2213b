"""Headless Chromium runs inside a test namespace (the doctor's home) through the kit's
wrapper: what it fetches leaves through the home's router, as a real browser's would."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError

from devkit.chromium import chromium
from devkit.internet import ADDRESSES, HOME, INTERNET, clinic_and_home
from devkit.netns import build, probe_argv

pytestmark = [pytest.mark.network, pytest.mark.usefixtures("debian_chromium")]

SERVER = ADDRESSES.server


async def test_chromium_in_the_home_goes_out_through_its_router(tmp_path: Path) -> None:
    """Chromium in the home, behind the 443-only router, loads a page on port 443 and the
    server saw the router's public address; port 80 is blocked for it like for any program."""
    async with (
        build(clinic_and_home(home_egress_tcp=(443,))) as topo,
        topo.process(
            INTERNET, *probe_argv("http-whoami", "--bind", SERVER, "--port", "443")
        ) as allowed,
        topo.process(
            INTERNET, *probe_argv("http-whoami", "--bind", SERVER, "--port", "80")
        ) as blocked,
    ):
        await allowed.ready()
        await blocked.ready()
        async with chromium(tmp_path / "profile", "", netns=topo.netns(HOME)) as context:
            page = await context.new_page()
            await page.goto(f"http://{SERVER}:443/", timeout=10_000)
            assert await page.text_content("#peer") == ADDRESSES.home_public
            with pytest.raises(PlaywrightError):
                await page.goto(f"http://{SERVER}:80/", timeout=3_000)
