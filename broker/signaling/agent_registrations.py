"""Agents' registrations (hello: host record, version, outdated-agent alert) written in
batches, one transaction and one commit for all waiting (issue 18, the reconnect storm).

With 2,000 agents coming back to a restarted broker on SQLite, registrations were what
bounded the storm once TLS stopped being the bottleneck: each was its own transaction,
and with ``synchronous=FULL`` each commit is an fsync of the WAL. py-spy put 85 % of the
broker's samples in aiosqlite's one database thread while the event loop idled, ~40
agents linked a second. A group commit takes every registration that arrived while the
previous batch was being written: under a storm the batches grow, one at a time costs
what it did before.

Bounded: at most ``max_batch`` registrations a transaction, one transaction at a time.
The endpoint gives its handshake slot back once its agent's registration is queued, and
the agent port counts the queue (not the batch being written) in its handshake bound: so
TLS for the next agents overlaps the commit of the last ones, and TLS handshakes cannot
starve registrations of the event loop. Slots held until the commit made the two
alternate in lumps of the limit; slots freed at queueing with nothing counting the queue
let handshakes take the loop (no registration for the first 16 s after a restart).

A batch that fails is retried one registration per transaction, so one bad host fails
its own agent only, as before; the error reaches that agent's handshake (no link without
its record: fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Final

import mamori_protocol as protocol
from broker.agents import hosts as agents
from broker.alerts import rules as alert_rules
from broker.clock import Clock
from broker.db.engine import Database

log = logging.getLogger(__name__)

MAX_BATCH: Final = 256


@dataclasses.dataclass
class _Pending:
    org_id: int
    hello: protocol.AgentHello
    done: asyncio.Future[protocol.AgentHello]


class AgentRegistrations:
    """Registers agents' hellos; concurrent calls share transactions."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        broker_version: Callable[[], str],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broker_version = broker_version
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        # Called when queued registrations go to be written: the agent port counts the
        # queue in its handshake bound (broker.server.agent_tls) and lets more in.
        self.on_dequeue: Callable[[], None] | None = None

    @property
    def queued(self) -> int:
        """Registrations waiting for a batch (not those being written)."""
        return len(self._pending)

    def submit(
        self, org_id: int, hello: protocol.AgentHello
    ) -> asyncio.Future[protocol.AgentHello]:
        """Queue a registration: the future gives the hello with the name the clinic knows
        the host by (never the agent's say-so) once its record is committed. Cancelling it
        (the agent went away) drops the registration if it is not being written yet."""
        done: asyncio.Future[protocol.AgentHello] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(org_id, hello, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return done

    async def register(self, org_id: int, hello: protocol.AgentHello) -> protocol.AgentHello:
        return await self.submit(org_id, hello)

    async def _write_all(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            if self.on_dequeue is not None:
                self.on_dequeue()
            batch = [p for p in batch if not p.done.done()]  # its agent went away meanwhile
            if not batch:
                continue
            try:
                names = await self._write(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0], exc)
                    continue
                log.warning(
                    "a batch of %d agent registrations failed (%s): one by one",
                    len(batch),
                    type(exc).__name__,
                )
                for one in batch:
                    try:
                        _settle(one, (await self._write([one]))[0])
                    except Exception as single:
                        _settle(one, single)
                continue
            for pending, name in zip(batch, names, strict=True):
                _settle(pending, name)

    async def _write(self, batch: list[_Pending]) -> list[protocol.AgentHello]:
        now = self._clock.now()
        version = self._broker_version()
        named = []
        async with self._db.session() as s:
            # One query for the hosts already recorded (a fleet coming back: all of them),
            # rather than one each: every await here waits its turn behind the TLS work
            # on the event loop, and per-host queries made a batch of 256 take ~20 s there.
            known = await agents.known_hosts(s, [(p.org_id, p.hello.host_id) for p in batch])
            for p in batch:
                host = known.get((p.org_id, p.hello.host_id))
                if host is None:
                    host = await agents.agent_connected(
                        s, p.org_id, p.hello.host_id, p.hello.name, p.hello.version, now
                    )
                    known[(p.org_id, p.hello.host_id)] = host
                else:
                    agents.hello_of_known(host, p.hello.version, now)
                await alert_rules.agent_connected(s, host, now, broker_version=version)
                named.append(dataclasses.replace(p.hello, name=host.name))
            await s.commit()
        self.batches += 1
        return named


def _settle(pending: _Pending, outcome: protocol.AgentHello | BaseException) -> None:
    if pending.done.done():
        return
    if isinstance(outcome, BaseException):
        pending.done.set_exception(outcome)
    else:
        pending.done.set_result(outcome)
