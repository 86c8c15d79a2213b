"""One enrollment code, many agents at once (issue 12, security 7): exactly one certificate
is issued. Real broker on SQLite and PostgreSQL, real concurrent enrollments."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from broker.db.models import AgentCertificate
from devkit.agent import make_code
from devkit.broker import RunningBroker
from devkit.identity import make_org
from host_agent.trust.credentials import AgentState
from host_agent.trust.enrollment import enroll

pytestmark = pytest.mark.integration

RACERS = 8


async def test_one_code_gives_one_certificate(any_broker: RunningBroker, tmp_path: Path) -> None:
    """Eight enrollments with the same code at once: one succeeds, the others are refused,
    and one certificate exists for the host."""
    org = await make_org(any_broker)
    code = await make_code(any_broker, org, "pc-race", "受付")

    def one(i: int) -> None:
        state = AgentState(tmp_path / f"agent-{i}")
        enroll(any_broker.https_url, code, "pc-race", "受付", state, str(any_broker.certs.ca_cert))

    results = await asyncio.gather(
        *(asyncio.to_thread(one, i) for i in range(RACERS)), return_exceptions=True
    )
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    assert len(succeeded) == 1, results
    async with any_broker.db.session() as s:
        issued = await s.scalar(select(func.count()).where(AgentCertificate.host_id == "pc-race"))
    assert issued == 1
