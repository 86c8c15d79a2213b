"""Enrolled host agents for tests: the real enrollment (a code as the console makes it, a key
and CSR made by the agent's own code, the real HTTP route) and a real agent running in the
test's event loop, connected to the agent port with its client certificate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from broker.agents import enrollment as agent_enrollment
from broker.agents.ca import AgentAuthority
from devkit.broker import RunningBroker
from devkit.identity import Org
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.platform.backends import open_injector
from host_agent.trust.credentials import AgentState
from host_agent.trust.enrollment import enroll
from host_agent.webrtc.peer_session import StreamSettings


async def make_code(broker: RunningBroker, org: Org, host_id: str, name: str = "") -> str:
    """A one-time enrollment code of ``org`` for ``host_id`` (as the console makes it)."""
    now = broker.clock.now()
    authority: AgentAuthority = broker.app.state.agent_authority
    async with broker.db.session() as s:
        await authority.ensure_ca(s, org.id, now)
        issued = await agent_enrollment.create_code(s, org.id, host_id, name or host_id, None, now)
        await s.commit()
    return issued.code


async def enroll_agent(
    broker: RunningBroker, org: Org, host_id: str, directory: Path, name: str = ""
) -> AgentState:
    """Enroll ``host_id`` into ``org`` the way ``python -m host_agent enroll`` does."""
    code = await make_code(broker, org, host_id, name)
    state = AgentState(directory)
    await asyncio.to_thread(
        enroll,
        broker.https_url,
        code,
        host_id,
        name or host_id,
        state,
        str(broker.certs.ca_cert),
    )
    return state


@contextlib.asynccontextmanager
async def running_agent(
    broker: RunningBroker, state: AgentState, display: str, host_id: str, name: str
) -> AsyncIterator[BrokerLink]:
    """An agent streaming ``display``; yielded once it is connected, stopped on exit."""
    injector = open_injector(display)
    link = BrokerLink(
        LinkSettings(broker.agent_wss_url, host_id, name, state.ssl_context),
        StreamSettings(display=display),
        injector,
    )
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        yield link
    finally:
        await link.stop()
        await asyncio.wait_for(task, 10)
        injector.close()
