"""Grants, time travel on the broker's clock, a bare agent link and audit reading, for the
grant, window and vendor-approval tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

import mamori_protocol as protocol
from broker.access import grants
from broker.access.grants import Access, Window
from broker.clock import Clock
from broker.db.models import AuditEvent
from devkit.agent import enroll_agent
from devkit.broker import RunningBroker
from devkit.identity import Org, SignedIn
from devkit.identity import open_viewer as open_viewer  # its home; tests import it from here
from mamori_protocol import Direction

TOKYO = ZoneInfo("Asia/Tokyo")


def next_local(
    broker: RunningBroker, weekday: int, hour: int, minute: int, second: int = 0
) -> dt.datetime:
    """The next ``weekday`` (0 = Monday) at that Tokyo wall-clock time, at least a day after
    the broker's now."""
    now = broker.clock.now().astimezone(TOKYO)
    days = (weekday - now.weekday()) % 7 or 7
    day = (now + dt.timedelta(days=days)).date()
    return dt.datetime.combine(day, dt.time(hour, minute, second), TOKYO)


def travel_to(broker: RunningBroker, instant: dt.datetime) -> None:
    """Move the broker's clock (forward only) to ``instant``; sign in afterwards, since a
    browser session does not survive days of idleness."""
    seconds = (instant - broker.clock.now()).total_seconds()
    if seconds < 0:
        raise ValueError("the broker's clock only moves forward")
    broker.clock.advance(seconds)


async def add_grant(
    broker: RunningBroker,
    org: Org,
    *,
    role: str | None = None,
    user_id: int | None = None,
    access: Access = Access.CONTROL,
    windows: tuple[Window, ...] = (),
) -> int:
    """A grant for every host of ``org`` written straight to the database; its id."""
    async with broker.db.session() as s:
        grant = await grants.create(
            s,
            org.id,
            user_id=user_id,
            role=role,
            host_ref=None,
            access=access,
            windows=windows,
            created_by=None,
            now=broker.clock.now(),
        )
        await s.commit()
        return grant.id


@contextlib.contextmanager
def real_time(clock: Clock) -> Iterator[None]:
    """The broker's clock back at the real time for a moment (tests that travel to a
    Wednesday evening): OpenSSL checks certificates against the real clock, so an agent
    enrolled at a travelled-to instant would hold a certificate not valid yet."""
    # Tests only: the clock has no rewind on purpose, so its offset is set directly.
    travelled = clock._offset
    clock._offset = dt.timedelta(0)
    try:
        yield
    finally:
        clock._offset = travelled


@contextlib.asynccontextmanager
async def bare_agent(
    broker: RunningBroker, org: Org, host_id: str
) -> AsyncIterator[ClientConnection]:
    """An enrolled agent link speaking the protocol by hand (no media): enough for
    signaling."""
    with tempfile.TemporaryDirectory(prefix="mamori-agent-") as directory:
        with real_time(broker.clock):
            state = await enroll_agent(broker, org, host_id, Path(directory), "診察室")
        async with connect(f"{broker.agent_wss_url}/ws/agent", ssl=state.ssl_context()) as agent:
            await agent.send(protocol.encode(protocol.AgentHello(host_id, "診察室", "0.1.0")))
            yield agent


async def wait_online(user: SignedIn, host_id: str, *, listed: bool = True) -> None:
    """Until the host list shows (or, with a grant refusing it, at least the relay has) it."""
    for _ in range(100):
        hosts = (await user.http.get("/api/hosts")).json()["hosts"]
        if any(h["host_id"] == host_id for h in hosts) == listed:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{host_id} never appeared in the host list")


async def receive(
    ws: ClientConnection, direction: Direction, timeout: float = 10
) -> protocol.Message:
    return protocol.parse(await asyncio.wait_for(ws.recv(), timeout), direction)


async def audit(broker: RunningBroker, event: str) -> list[AuditEvent]:
    """Every audit event of this kind, oldest first."""
    async with broker.db.session() as s:
        rows = await s.scalars(
            select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
        )
        return list(rows)


async def audited(
    broker: RunningBroker, event: str, fragment: str, timeout_s: float = 5
) -> AuditEvent:
    """The first ``event`` whose detail holds ``fragment`` (polled for up to ``timeout_s``:
    some are written just after the peer is told)."""
    for _ in range(int(timeout_s * 20)):
        for row in await audit(broker, event):
            if fragment in row.detail:
                return row
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"no {event} with {fragment!r}: {[r.detail for r in await audit(broker, event)]}"
    )
