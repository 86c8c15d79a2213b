"""Signing in through the pages of a real Chromium (tests and the latency bench)."""

from __future__ import annotations

from playwright.async_api import Page

from tests.support.broker import RunningBroker
from tests.support.identity import Person


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
