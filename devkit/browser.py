"""Signing in through the pages of a real Chromium (tests and the latency bench)."""

from __future__ import annotations

from playwright.async_api import Page

from devkit.broker import RunningBroker
from devkit.devices import approve_pending_of
from devkit.identity import Person


async def screen_is(page: Page, screen: str, timeout: float = 20_000) -> None:
    await page.wait_for_function(
        f"() => document.body.dataset.screen === '{screen}'", timeout=timeout
    )


async def password_step(page: Page, broker: RunningBroker, username: str, password: str) -> None:
    """Open the login page (at the broker's public origin) and send a password."""
    if not page.url.startswith(broker.public_origin):
        await page.goto(f"{broker.public_origin}/#/login")
    await screen_is(page, "login")
    await page.fill("#login-username", username)
    await page.fill("#login-password", password)
    await page.click("#login-submit")


async def sign_in(page: Page, broker: RunningBroker, person: Person) -> None:
    """Password, then a TOTP code, through the pages; ends on the host list."""
    await password_step(page, broker, person.username, person.password)
    await screen_is(page, "mfa")
    await page.fill("#mfa-totp-code", person.next_code(broker))
    await page.click("#mfa-totp-form button[type=submit]")
    await screen_is(page, "hosts")


async def device_state_is(page: Page, state: str, timeout: float = 20_000) -> None:
    """Wait until the host list's device panel says ``state`` (none, pending, approved...)."""
    await page.wait_for_function(
        f"() => document.body.dataset.deviceState === '{state}'", timeout=timeout
    )


async def register_this_browser(page: Page, label: str | None = None) -> None:
    """On the host list: make this browser's device key and register it (pending)."""
    await device_state_is(page, "none")
    if label is not None:
        await page.fill("#device-label", label)
    await page.click("#device-register")
    await device_state_is(page, "pending")


async def approve_this_browser(page: Page, broker: RunningBroker, person: Person) -> None:
    """Register this browser as ``person``'s viewing device through the page, and have an
    admin approve it through the API (the page learns it on its next poll; the viewer asks
    the broker anyway)."""
    await register_this_browser(page)
    approved = await approve_pending_of(broker, person)
    if not approved:
        raise AssertionError("the browser's device did not reach the admin's list")
