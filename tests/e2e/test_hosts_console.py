"""The console's hosts page in real headless Chromium: an enrolled, connected PC is listed
online with its certificate; an enrollment code comes with the exact command; revoking asks
for confirmation on the page and cuts the live agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext

from devkit.broker import RunningBroker
from devkit.browser import screen_is, sign_in
from devkit.identity import Org, make_person
from host_agent.link.broker_link import BrokerLink
from tests.conftest import HOST_ID

pytestmark = pytest.mark.e2e


async def test_admin_enrolls_and_revokes_clinic_pcs_from_the_console(
    broker: RunningBroker,
    org: Org,
    agent: BrokerLink,
    browser: BrowserContext,
    tmp_path: Path,
) -> None:
    """The hosts page lists the connected PC, makes a code with the exact command, and
    revokes the PC only after the on-page confirmation; the agent is cut off."""
    admin = await make_person(broker, org, "admin")
    page = await browser.new_page()
    await sign_in(page, broker, admin)
    await page.goto(f"{broker.public_origin}/#/admin/hosts")
    await screen_is(page, "admin")
    row = page.locator(f"#hosts-admin-rows tr[data-host-id='{HOST_ID}']")
    await row.wait_for()
    assert "オンライン" in await row.inner_text()
    assert "まで" in await row.inner_text()  # the certificate's end, in the clinic's zone

    await page.fill("#hosts-admin-host-id", "new-pc")
    await page.fill("#hosts-admin-name", "受付 2")
    await page.click("#hosts-admin-code-form button[type=submit]")
    await page.locator("#hosts-admin-code").wait_for(state="visible")
    command = await page.locator("#hosts-admin-command").inner_text()
    assert command.startswith(f"python -m host_agent enroll --broker {broker.public_origin} ")
    assert "--host-id new-pc --name '受付 2'" in command
    await page.screenshot(path=str(tmp_path / "hosts-console.png"), full_page=True)

    await row.locator("button").click()
    confirm = page.locator("#hosts-admin-confirm")
    await confirm.wait_for(state="visible")
    assert "診察室1" in await confirm.inner_text()
    assert broker.app.state.relay.agent(org.id, HOST_ID) is not None  # nothing yet
    await page.click("#hosts-admin-confirm-yes")
    message = page.locator("#hosts-admin-message")
    await message.filter(has_text="取り消しました").wait_for()
    for _ in range(100):
        if broker.app.state.relay.agent(org.id, HOST_ID) is None:
            break
        await asyncio.sleep(0.05)
    assert broker.app.state.relay.agent(org.id, HOST_ID) is None
    await row.filter(has_text="失効済み").wait_for()
    await page.screenshot(path=str(tmp_path / "hosts-revoked.png"), full_page=True)
