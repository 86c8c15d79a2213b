"""Viewer-side text through the whole path: an aiortc viewer, a real broker, a real agent on
Xvfb and the sample EHR. Written as attempts to use the `text` message as a paste channel."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from broker.db.models import AuditEvent
from devkit.broker import RunningBroker
from devkit.display import SampleApp
from devkit.identity import Org, SignedIn
from host_agent.link.broker_link import BrokerLink
from mamori_protocol.text_input import TEXT_BURST
from tests.conftest import HOST_ID
from tests.integration.test_streaming import bye_reason, live_session, wait_until
from tests.support.clinic_settings import set_clinic_settings
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]


async def violations(broker: RunningBroker, at_least: int = 1) -> list[str]:
    """The policy_violation rows, once ``at_least`` were written (the agent reports over its
    link, the broker records; the viewer may be gone first)."""
    for _ in range(100):
        async with broker.db.session() as s:
            rows = await s.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == "policy_violation")
                .order_by(AuditEvent.id)
            )
            found = [row.detail for row in rows]
        if len(found) >= at_least:
            return found
        await asyncio.sleep(0.1)
    return found


async def click_notes(viewer: AiortcViewer, sample_app: SampleApp) -> None:
    x, y = sample_app.center("notes")
    for t in ("down", "up"):
        await viewer.send_input(json.dumps({"t": t, "b": 0, "x": x, "y": y}))


def text(s: str) -> str:
    return json.dumps({"t": "text", "s": s}, ensure_ascii=False)


async def test_text_is_typed_and_a_burst_over_the_rate_is_refused_once(
    broker: RunningBroker, org: Org, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """With viewer text allowed, 患者 lands in the EHR's notes; 200 messages at once type
    at most the agent's burst, the refusal is audited once (text_flood), and the session
    goes on: Enter and more text still arrive, in order."""
    await set_clinic_settings(broker, org, text_entry="viewer_text")
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        session = await live_session(agent)
        await click_notes(viewer, sample_app)
        await viewer.send_input(text("患者"))
        await sample_app.wait_for_async(lambda s: s["notes"] == "患者", timeout=10)

        before = session.input_stats.injected
        for _ in range(200):
            viewer.input.send(text("x"))
        stats = session.input_stats
        await wait_until(lambda: stats.injected - before + stats.refused_text == 200)
        admitted = stats.injected - before
        # The agent's burst (20) plus what its rate refilled while the 200 arrived.
        assert TEXT_BURST <= admitted < 100, admitted
        await sample_app.wait_for_async(lambda s: s["notes"] == "患者" + "x" * admitted, timeout=20)
        for key in (True, False):
            await viewer.send_input(
                json.dumps({"t": "key", "code": "Enter", "key": "Enter", "down": key})
            )
        # Both Enter events admitted before counting what 所見 does.
        await wait_until(lambda: stats.injected == before + admitted + 2)
        # Refused while the agent's bucket is empty; a person's next word comes once it
        # refilled (a twentieth of a second per message).
        for _ in range(50):
            refused, admitted_before = stats.refused_text, stats.injected
            await viewer.send_input(text("所見"))
            await wait_until(
                lambda: stats.refused_text > refused or stats.injected > admitted_before  # noqa: B023
            )
            if stats.injected > admitted_before:
                break
            await asyncio.sleep(0.05)
        await sample_app.wait_for_async(
            lambda s: s["notes"] == "患者" + "x" * admitted + "\n所見", timeout=10
        )
        assert agent.session is session
    audited = await violations(broker)
    assert len(audited) == 1, audited
    assert "violation=text_flood" in audited[0]


async def test_ten_thousand_characters_are_refused_audited_and_end_the_session(
    broker: RunningBroker, org: Org, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """A 10,000-character `text` message is larger than any input message: nothing is
    typed, the violation is audited and (by default) the session ends."""
    await set_clinic_settings(broker, org, text_entry="both")
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        await click_notes(viewer, sample_app)
        await viewer.send_input(text("患" * 10_000))
        assert await bye_reason(viewer) == "oversized_message"
        await wait_until(lambda: agent.session is None)
    audited = await violations(broker)
    assert len(audited) == 1
    assert "violation=oversized_message" in audited[0]
    assert sample_app.state()["notes"] == ""


async def test_host_ime_only_refuses_text_and_audits_it_once(
    broker: RunningBroker, user: SignedIn, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """Under the default (host IME only) a modified page's `text` messages are not typed;
    the first is audited (text_not_allowed), keys still work."""
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await viewer.next_frame()
        await wait_until(lambda: viewer.input.readyState == "open")
        session = await live_session(agent)
        await click_notes(viewer, sample_app)
        for _ in range(3):
            await viewer.send_input(text("病名"))
        for down in (True, False):
            await viewer.send_input(
                json.dumps({"t": "key", "code": "KeyA", "key": "a", "down": down})
            )
        await sample_app.wait_for_async(lambda s: s["notes"] == "a", timeout=10)
        assert session.input_stats.refused_text == 3
    audited = await violations(broker)
    assert len(audited) == 1
    assert "violation=text_not_allowed" in audited[0]
