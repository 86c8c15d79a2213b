"""A reconnect storm on one broker process (issue 18): the suite's storm test and
``bench.reconnect_storm`` run this same code.

One run: a fresh database (SQLite, or PostgreSQL) seeded with the fleet's certificates and
an admin, a real broker process (``python -m broker serve``), the whole fleet linked to it
(``devkit.fleet``: the agent's own link code, backoff and Retry-After handling, over mutual
TLS, in worker processes); then the broker is SIGKILLed and started again on the same ports,
and the agents find it by themselves. Measured (``StormFigures``): how long until every agent
is back, the new process's memory, and whether the browser API kept answering a signed-in
person throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import httpx

from broker.config import Settings
from broker.server.app import create_app
from devkit.broker import RunningBroker, make_certs, random_secret_key
from devkit.broker_process import (
    ROOT,
    BrokerProcess,
    broker_env,
    broker_process,
    production_settings,
    rss_kb,
)
from devkit.databases import database_url
from devkit.fleet import FleetCerts, running_fleet, seed
from devkit.identity import Person, make_org, make_person, sign_in_client

SETTLE_S: Final = 3.0
LINK_TIMEOUT_S: Final = 600.0
PROBE_EVERY_S: Final = 0.25
# A browser call slower than this counts as not answered (a page's fetch would feel dead).
SLOW_S: Final = 2.0


async def settled_rss_kb(broker: BrokerProcess) -> int:
    """RSS once it moved less than 2 MiB for ``SETTLE_S`` (at most ~60 s)."""
    last, since = rss_kb(broker.pid), time.monotonic()
    for _ in range(240):
        await asyncio.sleep(0.25)
        now = rss_kb(broker.pid)
        if abs(now - last) > 2048:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= SETTLE_S:
            break
    return rss_kb(broker.pid)


@dataclass
class Seeded:
    """A database holding the fleet (its CA and certificates) and one admin, and the
    production settings of a broker process on it."""

    base: dict[str, str]
    facade: RunningBroker  # its app is closed: addresses, certificates and clock only
    admin: Person


@contextlib.asynccontextmanager
async def seeded(backend: str, work: Path, certs: FleetCerts) -> AsyncIterator[Seeded]:
    server = make_certs(work / "server")
    async with database_url(backend, work) as url:
        base = production_settings(server, url, work / "data", random_secret_key())
        settings = Settings.from_env(broker_env(base))
        app = create_app(settings)
        await app.state.db.migrate()
        facade = RunningBroker(app, settings, 0, server)
        try:
            org = await make_org(facade)
            if org.id != int(certs.org_label):
                raise RuntimeError("the fleet's organization must be the database's first")
            async with facade.db.session() as s:
                await seed(s, certs, settings.secret_key_bytes)
                await s.commit()
            admin = await make_person(facade, org, "admin")
        finally:
            await app.state.db.dispose()
        yield Seeded(base, facade, admin)


@dataclass
class StormFigures:
    link_up_s: float  # the whole fleet's first link-up (a cold broker, every agent at once)
    idle_mib: float  # the first process's settled RSS before any agent
    back_s: float  # from the kill until every agent has linked to the new process
    registered_s: float  # ... until the new process counts every agent online
    peak_mib: float  # the new process's highest RSS until then (sampled every 0.25 s)
    settled_mib: float  # ... and once all are back
    api_p50_s: float  # a signed-in browser call's answer meanwhile: median and slowest
    api_max_s: float
    api_failed: int  # calls that failed, were refused or took over SLOW_S
    api_probes: int
    api_misses: list[tuple[float, float]]  # (s since the new process listened, s taken or -1)

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items() if key != "api_misses"}


class Watch:
    """The new process, watched from the moment it listens: its RSS peak, a signed-in
    ``GET /api/session`` every ``PROBE_EVERY_S`` (the session is in the database, so this is
    the browser API under the storm, not a liveness probe) and its agents-online count."""

    def __init__(self, broker: BrokerProcess, http: httpx.AsyncClient, metrics_token: str):
        self.broker = broker
        self.http = http
        self.metrics_token = metrics_token
        self.peak_kb = 0
        self.slowest = 0.0
        self.answered: list[float] = []  # seconds each answered call took
        self.failed = 0
        self.probes = 0
        # (seconds since the watch began, seconds taken or -1 if it failed) of each call
        # that counted as not answered: when in the storm it happened says why.
        self.misses: list[tuple[float, float]] = []
        self.online = 0
        self.fleet_size = 0
        self.all_online = asyncio.Event()

    async def run(self) -> None:
        began = time.monotonic()
        while True:
            self.peak_kb = max(self.peak_kb, rss_kb(self.broker.pid))
            started = time.monotonic()
            try:
                answer = await self.http.get("/api/session")
                ok = answer.status_code == 200 and answer.json().get("state") == "active"
            except httpx.HTTPError:
                ok = False
            took = time.monotonic() - started
            self.probes += 1
            self.slowest = max(self.slowest, took)
            if ok:
                self.answered.append(took)
            if not ok or took > SLOW_S:
                self.failed += 1
                self.misses.append((round(started - began, 2), round(took, 2) if ok else -1.0))
            await self._count_online()
            await asyncio.sleep(max(0.0, PROBE_EVERY_S - took))

    async def _count_online(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            metrics = await self.http.get(
                "/metrics", headers={"Authorization": f"Bearer {self.metrics_token}"}
            )
            for line in metrics.text.splitlines():
                if line.startswith("mamori_agents_online{"):
                    self.online = int(float(line.rsplit(" ", 1)[1]))
            if self.fleet_size and self.online >= self.fleet_size:
                self.all_online.set()


async def storm(
    backend: str,
    certs: FleetCerts,
    work: Path,
    *,
    workers: int,
    timeout_s: float,
    settings: dict[str, str] | None = None,
    broker_root: Path = ROOT,
) -> StormFigures:
    """One storm (see the module's docstring); TimeoutError if the fleet is not all back
    (or not all counted online) within ``timeout_s`` of the kill."""
    metrics_token = secrets.token_urlsafe(24)
    async with seeded(backend, work, certs) as ready:
        base = {**ready.base, "MAMORI_METRICS_TOKEN": metrics_token, **(settings or {})}
        facade = ready.facade
        log = work / "broker.log"
        async with broker_process(broker_env(base), log, root=broker_root) as first:
            ports = first.port, first.agent_port
            facade.port, facade.agent_port = ports
            idle = await settled_rss_kb(first)
            async with facade.http() as http:
                await sign_in_client(facade, http, ready.admin)
                started = time.monotonic()
                async with running_fleet(
                    certs, facade.agent_wss_url, facade.certs.ca_cert, workers, work
                ) as fleet:
                    await fleet.wait_until("linked", certs.size, LINK_TIMEOUT_S)
                    link_up = time.monotonic() - started
                    await fleet.mark()
                    killed = time.monotonic()
                    first.kill()
                    await first.process.wait()
                    again = broker_env(base, *ports)
                    async with broker_process(again, log, root=broker_root) as second:
                        watch = Watch(second, http, metrics_token)
                        watch.fleet_size = certs.size
                        watcher = asyncio.create_task(watch.run())
                        try:
                            await fleet.wait_until("again", certs.size, timeout_s)
                            back = time.monotonic() - killed
                            remaining = max(timeout_s - back, 0.1)
                            try:
                                await asyncio.wait_for(watch.all_online.wait(), remaining)
                            except TimeoutError:
                                raise TimeoutError(
                                    f"online: {watch.online} of {certs.size} after {timeout_s} s"
                                ) from None
                            registered = time.monotonic() - killed
                        finally:
                            watcher.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await watcher
                        settled = await settled_rss_kb(second)
    return StormFigures(
        link_up_s=link_up,
        idle_mib=idle / 1024,
        back_s=back,
        registered_s=registered,
        peak_mib=watch.peak_kb / 1024,
        settled_mib=settled / 1024,
        api_p50_s=statistics.median(watch.answered) if watch.answered else -1.0,
        api_max_s=watch.slowest,
        api_failed=watch.failed,
        api_probes=watch.probes,
        api_misses=watch.misses,
    )
