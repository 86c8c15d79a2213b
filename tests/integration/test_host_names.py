"""A host's name is the clinic's (issue 12, security 7): an agent's hello cannot rename its
host, nor take the name of another PC of the clinic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

import mamori_protocol as protocol
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.identity import Org, SignedIn

pytestmark = pytest.mark.integration


async def names(user: SignedIn, count: int) -> dict[str, str]:
    for _ in range(100):
        hosts = (await user.http.get("/api/hosts")).json()["hosts"]
        if len(hosts) >= count:
            return {h["host_id"]: h["name"] for h in hosts}
        await asyncio.sleep(0.05)
    raise AssertionError("the hosts did not come online")


async def test_a_hello_cannot_take_another_pcs_name(
    broker: RunningBroker, org: Org, user: SignedIn, tmp_path: Path
) -> None:
    """PC "pc-b", enrolled as 診察室2, says hello as 受付 (the name of "pc-a"): both keep the
    names the admin gave them, in the host list and in the relay."""
    a = await enroll_agent(broker, org, "pc-a", tmp_path / "a", "受付")
    b = await enroll_agent(broker, org, "pc-b", tmp_path / "b", "診察室2")
    async with (
        connect(f"{broker.agent_wss_url}/ws/agent", ssl=a.ssl_context()) as agent_a,
        connect(f"{broker.agent_wss_url}/ws/agent", ssl=b.ssl_context()) as agent_b,
    ):
        await agent_a.send(protocol.encode(protocol.AgentHello("pc-a", "受付", "0.1.0")))
        await agent_b.send(protocol.encode(protocol.AgentHello("pc-b", "受付", "0.1.0")))
        assert await names(user, 2) == {"pc-a": "受付", "pc-b": "診察室2"}
