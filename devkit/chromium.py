"""Debian's Chromium under Playwright, configured the one way the tests and benches use it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import BrowserContext, Page, async_playwright

from devkit.broker import RunningBroker
from devkit.browser import approve_this_browser, sign_in
from devkit.identity import Person
from devkit.netns import netns_wrapper

CHROMIUM = "/usr/bin/chromium"


def chromium_args(spki_sha256_b64: str) -> list[str]:
    """Flags from DESIGN.md, the test broker's key pinned, and media kept on loopback."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--ignore-certificate-errors-spki-list={spki_sha256_b64}",
        # Media stays on 127.0.0.1 in tests (see the loopback_ice fixture).
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]


@contextlib.asynccontextmanager
async def chromium(
    profile: Path,
    spki_sha256_b64: str,
    netns: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile that trusts only the given server key;
    inside network namespace ``netns`` when one is given (the network tier's home).
    ``extra_args``: more flags (the network tier maps the broker's name with
    ``--host-resolver-rules``)."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: deploy/setup.sh installs Debian's chromium")
    executable = CHROMIUM
    if netns is not None:
        profile.mkdir(parents=True, exist_ok=True)
        executable = str(netns_wrapper(netns, CHROMIUM, profile.parent))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=[*chromium_args(spki_sha256_b64), *extra_args],
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await context.close()


async def open_viewer(
    context: BrowserContext, broker: RunningBroker, person: Person, host_id: str
) -> Page:
    """Sign in through the pages (password and TOTP), register this browser as a viewing
    device and have an admin approve it, open the host, wait for picture and input channel."""
    page = await context.new_page()
    await sign_in(page, broker, person)
    await approve_this_browser(page, broker, person)
    await page.wait_for_function("() => document.body?.dataset.hostsState === 'ready'")
    await page.click(f'#host-list li.host-item[data-host-id="{host_id}"] a.host-link')
    # The click navigates to viewer.html: the predicate may first run on a document whose body
    # is not parsed yet (a throwing predicate fails the wait at once), hence ``body?.``.
    await page.wait_for_function(
        "() => document.body?.dataset.connection === 'connected'"
        " && document.body.dataset.video === 'playing'"
        " && document.body.dataset.input === 'open'",
        timeout=20_000,
    )
    return page
