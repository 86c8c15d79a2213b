"""View-only sessions enforced by the agent, whatever the viewer sends: a real aiortc viewer
with a view grant sends keyboard and pointer input on the `input` channel; the agent refuses
it, the broker audits the violation, the session ends, and nothing reaches the X display."""

from __future__ import annotations

import asyncio
import json

import pytest

import mamori_protocol as protocol
from broker.access.grants import Access
from devkit.broker import RunningBroker
from devkit.display import SampleApp
from devkit.identity import Org, make_person, signed_in
from host_agent.link.broker_link import BrokerLink
from mamori_protocol import Direction
from tests.conftest import HOST_ID
from tests.support.grants import add_grant, audit, audited
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def bye_reason(viewer: AiortcViewer) -> str:
    while True:
        message = protocol.parse(
            await asyncio.wait_for(viewer.ws.recv(), 10), Direction.BROKER_TO_VIEWER
        )
        if isinstance(message, protocol.Bye):
            return message.reason


async def test_a_view_only_viewer_that_sends_input_is_refused_audited_and_injects_nothing(
    broker: RunningBroker, org: Org, agent: BrokerLink, sample_app: SampleApp
) -> None:
    """A clerk with a view grant sees the picture; a click and keys into the notes field
    are refused by the agent (view_only_input), audited, end the session, and the field
    stays empty: no input reached the display."""
    await add_grant(broker, org, role="staff", access=Access.VIEW)
    clerk = await make_person(broker, org, "staff")
    async with signed_in(broker, clerk) as user:
        ticket = await user.ticket_response(HOST_ID)
        assert ticket.json()["view_only"] is True
        async with aiortc_viewer(broker, user, HOST_ID) as viewer:
            assert viewer.notices == [protocol.Notice("view_only", 0)]
            await viewer.next_frame()
            session = agent.session
            assert session is not None
            assert session.start.view_only is True
            await wait_until(lambda: viewer.input.readyState == "open")
            x, y = sample_app.center("notes")
            for message in (
                {"t": "move", "x": x, "y": y},
                {"t": "down", "b": 0, "x": x, "y": y},
                {"t": "up", "b": 0, "x": x, "y": y},
                {"t": "key", "code": "KeyQ", "key": "q", "down": True},
                {"t": "key", "code": "KeyQ", "key": "q", "down": False},
            ):
                await viewer.send_input(json.dumps(message))
            assert await bye_reason(viewer) == "view_only_input"
            await wait_until(lambda: agent.session is None)
    assert session.input_stats.injected == 0
    assert session.input_stats.violations >= 1
    await asyncio.sleep(0.5)  # anything injected would have reached the app by now
    assert sample_app.state()["notes"] == ""
    violation = await audited(broker, "policy_violation", "violation=view_only_input")
    assert violation.actor == clerk.username
    assert len(await audit(broker, "policy_violation")) == 1
    ended = await audited(broker, "session_ended", "reason=view_only_input")
    assert f"session={session.session_id}" in ended.detail
