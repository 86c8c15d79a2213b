"""Through two replicas in headless Chromium: the real agent streams the sample EHR from
replica A, the browser reaches replica B, sees the picture and types into the EHR; an admin
on B ends the session and the agent on A stops it; the browser opens it again through B and
an admin on A revokes its device: the viewer on B is told and the agent stops."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from broker.db.models import ViewingDevice
from certs.authority import ServerFiles
from devkit.agent import enroll_agent, running_agent
from devkit.chromium import chromium, open_viewer
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import make_org, make_person, signed_in
from tests.conftest import HOST_ID
from tests.replicas.pair import replica_pair, until

pytestmark = [pytest.mark.e2e, pytest.mark.display, pytest.mark.postgres]


async def test_a_browser_on_b_drives_the_ehr_on_a_and_an_admin_on_b_ends_it(
    server_certs: ServerFiles,
    tmp_path: Path,
    xvfb: XvfbDisplay,
    sample_app: SampleApp,
    loopback_ice: None,
) -> None:
    async with replica_pair(server_certs, tmp_path) as pair:
        org = await make_org(pair.a)
        doctor = await make_person(pair.a, org, "doctor")
        admin = await make_person(pair.a, org, "admin")
        state = await enroll_agent(pair.a, org, HOST_ID, tmp_path / "agent-state", "診察室1")
        async with (
            running_agent(pair.a, state, xvfb.name, HOST_ID, "診察室1") as link,
            chromium(tmp_path / "profile", pair.b.certs.spki_sha256_b64) as browser,
        ):
            assert pair.b.app.state.relay.agent(org.id, HOST_ID) is None  # the agent is on A
            page = await open_viewer(browser, pair.b, doctor, HOST_ID)
            held = pair.a.app.state.relay.agent(org.id, HOST_ID).session
            assert held is not None
            assert link.session is not None

            box = await page.locator("#remote-video").bounding_box()
            assert box is not None
            notes_x, notes_y = sample_app.center("notes")
            scale = min(box["width"] / 1280, box["height"] / 720)
            left = box["x"] + (box["width"] - 1280 * scale) / 2
            top = box["y"] + (box["height"] - 720 * scale) / 2
            await page.mouse.click(left + (notes_x + 0.5) * scale, top + (notes_y + 0.5) * scale)
            await page.keyboard.type("replica B -> A", delay=40)
            await sample_app.wait_for_async(lambda s: "replica B -> A" in s["notes"], timeout=10)

            async with signed_in(pair.b, admin) as boss:
                ended = await boss.post(f"/api/admin/live-sessions/{held.session_id}/end")
                assert ended.status_code == 200, ended.text
            await until(lambda: link.session is None, 10, "the agent on A stopped the session")
            await page.wait_for_function(
                "() => document.body.dataset.connection === 'ended'", timeout=10_000
            )
            await expect(page.locator("#connection-status-detail")).to_contain_text(
                "管理者が接続を終了しました。"
            )

            # Again through B; this time an admin on A revokes the browser's device.
            await page.reload()  # the same viewer URL: a reload opens it afresh
            await page.wait_for_function(
                "() => document.body?.dataset.connection === 'connected'"
                " && document.body.dataset.video === 'playing'",
                timeout=20_000,
            )
            async with pair.a.db.session() as s:
                (device_id,) = await s.scalars(
                    select(ViewingDevice.id).where(ViewingDevice.user_id == doctor.user_id)
                )
            async with signed_in(pair.a, admin) as boss:
                revoked = await boss.post(f"/api/admin/devices/{device_id}/revoke")
                assert revoked.status_code == 200, revoked.text
            await until(lambda: link.session is None, 10, "the agent on A stopped again")
            await page.wait_for_function(
                "() => document.body.dataset.connection === 'ended'", timeout=10_000
            )
            await expect(page.locator("#connection-status-detail")).to_contain_text(
                "管理者がこの端末の利用を取り消したため"
            )
