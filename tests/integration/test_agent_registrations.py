"""Agents' registrations share transactions (``broker.signaling.agent_registrations``): a
reconnecting fleet's hellos are committed in a few batches instead of one fsync each, and
one that cannot be written fails its own agent only (issue 18, the reconnect storm)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

import mamori_protocol as protocol
from broker.db.models import Host
from broker.signaling.agent_registrations import AgentRegistrations
from devkit.broker import RunningBroker
from devkit.identity import Org

pytestmark = pytest.mark.integration


def hello(n: int) -> protocol.AgentHello:
    return protocol.AgentHello(f"batch-pc-{n:03d}", f"診察室{n}", "0.1.0")


async def test_concurrent_registrations_are_committed_in_few_transactions(
    broker: RunningBroker, org: Org
) -> None:
    registrations: AgentRegistrations = broker.app.state.agent_registrations
    before = registrations.batches
    named = await asyncio.gather(*(registrations.register(org.id, hello(n)) for n in range(40)))
    assert [h.host_id for h in named] == [hello(n).host_id for n in range(40)]
    assert registrations.batches - before <= 3, registrations.batches - before
    async with broker.db.session() as s:
        count = await s.scalar(
            select(func.count()).select_from(Host).where(Host.host_id.like("batch-pc-%"))
        )
    assert count == 40


async def test_a_registration_that_cannot_be_written_fails_alone(
    broker: RunningBroker, org: Org
) -> None:
    """A host of an organization that does not exist (a foreign key the database refuses)
    in the same batch as good ones: its agent gets the error, the others are registered."""
    registrations: AgentRegistrations = broker.app.state.agent_registrations
    results = await asyncio.gather(
        registrations.register(org.id, hello(1)),
        registrations.register(org.id + 999, hello(2)),
        registrations.register(org.id, hello(3)),
        return_exceptions=True,
    )
    assert isinstance(results[1], Exception)
    assert [r.host_id for r in (results[0], results[2]) if isinstance(r, protocol.AgentHello)] == [
        "batch-pc-001",
        "batch-pc-003",
    ]
    async with broker.db.session() as s:
        hosts = set(await s.scalars(select(Host.host_id).where(Host.host_id.like("batch-pc-%"))))
    assert hosts == {"batch-pc-001", "batch-pc-003"}
