"""Session set-ups and audited sign-ins per second, on one and on two broker replicas
(issue 18): ``python -m bench.setups``.

Configurations (``--configs``):
- ``sqlite``: one broker process on SQLite, no replicas (the embedded default; a reference);
- ``one``: one replica (``MAMORI_REPLICAS=on``) on a PostgreSQL database and a Redis server
  of the run's own;
- ``two``: two replicas on one such database and Redis; viewers alternate between them and
  half reach an agent the other replica holds (``bench.rates.placement``).

Each run starts the configuration afresh (a new database, ``python -m broker serve``
processes), seeds it in this process (a clinic, its agents' certificates, a grant to
doctors, people), then measures for ``--window`` seconds each:
1. session set-ups (defined in ``bench.setup_clients``): ``--clients`` viewers in
   parallel, each with its own host, after one untimed set-up each;
2. audited sign-ins: ``--signin-clients`` browsers in parallel, password (argon2id) then
   TOTP, each sign-in a person not signed in before, after one untimed sign-in each.
Configurations are interleaved within a run, so a change of the machine's load falls on all
of them alike. The figures are the medians of ``--runs`` runs; ``two`` is also given as a
ratio of ``one``. Beside every run: the machine's load average and the CPU the broker
processes and this process (all the clients) used, in cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import rates
from bench.procstat import CpuWindow, find_by_cmdline
from bench.setup_clients import (
    BenchAgent,
    SignInPool,
    Tally,
    set_up_loop,
    set_up_once,
    sign_in_loop,
)
from broker.access import grants
from broker.access.grants import Access
from broker.config import Settings
from broker.server.app import create_app
from devkit.broker import RunningBroker, make_certs, random_secret_key
from devkit.broker_process import broker_env, broker_process, production_settings
from devkit.databases import database_url, own_redis
from devkit.devices import approved_device
from devkit.fleet import FleetCerts, make_fleet_certs, seed
from devkit.identity import Org, SignedIn, make_org, make_people, sign_in_client

CONFIGS = ("sqlite", "one", "two")
NAMES = {"sqlite": "SQLite, one process", "one": "one replica", "two": "two replicas"}
LISTED_TIMEOUT_S = 30.0
# Sign-ins a second the pool is sized for (a run that spends it all still counts right:
# bench.rates.rate ends its window at the last sign-in).
POOL_PER_S = 20


@dataclass
class Deployment:
    """Broker processes on one database; ``facade`` is this process's app on that database
    (seeding only, it serves nothing); ``brokers`` address each process."""

    facade: RunningBroker
    org: Org
    brokers: list[RunningBroker]
    pids: list[int]
    database_url: str
    redis_url: str

    def cpu(self) -> CpuWindow:
        """CPU of the broker processes, of this process (every client), and of the run's
        PostgreSQL backends and Redis server (found now: their connections are pooled)."""
        name = self.database_url.rsplit("/", 1)[1]
        port = self.redis_url.split(":")[-1].split("/")[0] if self.redis_url else ""
        return CpuWindow(
            {
                "brokers": self.pids,
                "bench": [os.getpid()],
                "postgres": sorted(
                    set(find_by_cmdline("postgres: ")) & set(find_by_cmdline(f" {name} "))
                ),
                "redis": find_by_cmdline(f"redis-server 127.0.0.1:{port}") if port else [],
            }
        )


@contextlib.asynccontextmanager
async def deployment(config: str, work: Path, certs: FleetCerts) -> AsyncIterator[Deployment]:
    server = make_certs(work / "server")
    replicas = 2 if config == "two" else 1
    backend = "sqlite" if config == "sqlite" else "postgres"
    async with database_url(backend, work) as url:
        with own_redis(work) if config != "sqlite" else contextlib.nullcontext("") as redis:
            base = production_settings(server, url, work / "data", random_secret_key())
            app = create_app(Settings.from_env(broker_env(base)))
            await app.state.db.migrate()
            facade = RunningBroker(app, app.state.settings, 0, server)
            try:
                org = await _seed(facade, certs)
                async with contextlib.AsyncExitStack() as stack:
                    brokers, pids = [], []
                    for r in range(replicas):
                        env = dict(base)
                        if redis:
                            env |= {
                                "MAMORI_REPLICAS": "on",
                                "MAMORI_REDIS_URL": redis,
                                "MAMORI_REPLICA_ID": f"bench-{r}",
                            }
                        process = await stack.enter_async_context(
                            broker_process(broker_env(env), work / f"broker-{r}.log")
                        )
                        pids.append(process.pid)
                        brokers.append(
                            dataclasses.replace(
                                facade, port=process.port, agent_port=process.agent_port
                            )
                        )
                    yield Deployment(facade, org, brokers, pids, url, redis)
            finally:
                await app.state.db.dispose()


async def _seed(facade: RunningBroker, certs: FleetCerts) -> Org:
    """A clinic, its agents' certificates (as enrollment leaves them) and a grant of every
    host to its doctors."""
    org = await make_org(facade)
    if org.id != int(certs.org_label):
        raise RuntimeError("the fleet's organization must be the database's first")
    async with facade.db.session() as s:
        await seed(s, certs, facade.settings.secret_key_bytes)
        await grants.create(
            s, org.id, user_id=None, role="doctor", host_ref=None, access=Access.CONTROL,
            windows=(), created_by=None, now=facade.clock.now(),
        )  # fmt: skip
        await s.commit()
    return org


async def measure_setups(dep: Deployment, certs: FleetCerts, window: float) -> dict[str, float]:
    replicas = len(dep.brokers)
    people = await make_people(dep.facade, dep.org, certs.size)
    agents = [BenchAgent(certs, i) for i in range(certs.size)]
    async with contextlib.AsyncExitStack() as stack:
        viewers = []
        for i, agent in enumerate(agents):
            on_agent, on_viewer = rates.placement(i, replicas)
            await stack.enter_async_context(agent.linked(dep.brokers[on_agent]))
            broker = dep.brokers[on_viewer]
            http = await stack.enter_async_context(broker.http())
            user = await sign_in_client(broker, http, people[i])
            user.device = await approved_device(broker, user)
            viewers.append((broker, user))
        await _until_listed(viewers, {a.host_id for a in agents})
        # One untimed set-up each: first connections, caches, the JIT-less warm paths.
        await asyncio.gather(
            *(set_up_once(b, u, a) for (b, u), a in zip(viewers, agents, strict=True))
        )
        tally, start, used = await _window(
            dep,
            lambda deadline, tally: [
                set_up_loop(b, u, a, deadline, tally)
                for (b, u), a in zip(viewers, agents, strict=True)
            ],
            window,
        )
    return _figures(tally, rates.rate(tally.finishes, start, start + window), used)


async def _until_listed(viewers: list[tuple[RunningBroker, SignedIn]], hosts: set[str]) -> None:
    """Until every viewer's host list shows every agent (replicas share their agents
    through Redis within seconds)."""
    deadline = time.monotonic() + LISTED_TIMEOUT_S
    for _, user in viewers:
        while True:
            listed = (await user.http.get("/api/hosts")).json()["hosts"]
            if hosts <= {h["host_id"] for h in listed}:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"hosts not listed within {LISTED_TIMEOUT_S} s")
            await asyncio.sleep(0.1)


async def measure_signins(dep: Deployment, clients: int, window: float) -> dict[str, float]:
    replicas = len(dep.brokers)
    pool = SignInPool(await make_people(dep.facade, dep.org, math.ceil(window * POOL_PER_S)))
    warm = SignInPool(await make_people(dep.facade, dep.org, clients))
    await asyncio.gather(
        *(sign_in_loop(dep.brokers[c % replicas], warm, math.inf, Tally()) for c in range(clients))
    )
    tally, start, used = await _window(
        dep,
        lambda deadline, tally: [
            sign_in_loop(dep.brokers[c % replicas], pool, deadline, tally) for c in range(clients)
        ],
        window,
    )
    return _figures(tally, rates.rate(tally.finishes, start, start + window, pool.ran_out), used)


async def _window(
    dep: Deployment,
    loops: Callable[[float, Tally], list[Coroutine[Any, Any, None]]],
    window: float,
) -> tuple[Tally, float, dict[str, float]]:
    """Run ``loops(deadline, tally)`` to their end; the tally, the window's start and the
    CPU used meanwhile (percent of a core by process group)."""
    tally = Tally()
    cpu = dep.cpu()
    cpu.start()
    start = time.monotonic()
    await asyncio.gather(*loops(start + window, tally))
    return tally, start, cpu.stop()


def _figures(tally: Tally, per_s: float, cpu: dict[str, float]) -> dict[str, float]:
    for failure in tally.failures[:5]:
        print(f"    failure: {failure}")
    per_core = rates.per_core(per_s, cpu["brokers"] / 100)
    return {
        "per_s": per_s,
        "per_core_s": math.nan if per_core is None else per_core,
        "p50_ms": 1000 * statistics.median(tally.latencies) if tally.latencies else math.nan,
        "failures": float(len(tally.failures)),
        "broker_cores": cpu["brokers"] / 100,
        "postgres_cores": cpu["postgres"] / 100,
        "redis_cores": cpu["redis"] / 100,
        "bench_cores": cpu["bench"] / 100,
    }


async def main_async(args: argparse.Namespace) -> None:
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    loads = []
    with tempfile.TemporaryDirectory(prefix="mamori-bench-setups-") as tmp:
        root = Path(tmp)
        certs = make_fleet_certs(root / "fleet", args.clients, 1)
        for n in range(args.runs):
            for config in args.configs:
                work = root / f"run{n}-{config}"
                work.mkdir()
                load = os.getloadavg()[0]
                async with deployment(config, work, certs) as dep:
                    measured = {
                        "set-ups": await measure_setups(dep, certs, args.window),
                        "sign-ins": await measure_signins(dep, args.signin_clients, args.window),
                    }
                load = max(load, os.getloadavg()[0])
                loads.append(load)
                for what, figures in measured.items():
                    results.setdefault((what, config), []).append(figures)
                    shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
                    print(f"run {n + 1} {config} {what}: {shown} (load {load:.1f})", flush=True)
    print(
        f"\nmedians of {args.runs} runs, {args.window:g} s windows, {args.clients} set-up "
        f"clients, {args.signin_clients} sign-in clients; load average (1 min) "
        f"{min(loads):.1f}-{max(loads):.1f}"
    )
    for what in ("set-ups", "sign-ins"):
        print(
            f"\n| {what} | per second: median (runs) | ratio to one replica "
            "| per broker CPU second: median (runs) | ratio to one replica |"
            "\n|---|---|---|---|---|"
        )
        for config in args.configs:
            cells = []
            for key in ("per_s", "per_core_s"):
                figure = rates.Figure.of([r[key] for r in results[(what, config)]])
                reference = None
                if config == "two" and (what, "one") in results:
                    reference = rates.Figure.of([r[key] for r in results[(what, "one")]])
                cells.append((figure, reference))
            print(rates.row(NAMES[config], cells))
        for config in args.configs:
            runs = results[(what, config)]
            summary = ", ".join(
                f"{k} {statistics.median(r[k] for r in runs):.2f}"
                for k in runs[0]
                if k not in ("per_s", "per_core_s")
            )
            print(f"  {NAMES[config]}: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.setups", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured, each")
    parser.add_argument("--clients", type=int, default=4, help="viewers setting up at once")
    parser.add_argument("--signin-clients", type=int, default=4, help="browsers signing in")
    parser.add_argument(
        "--configs", type=lambda s: s.split(","), default=list(CONFIGS),
        help="comma-separated, of: " + ", ".join(CONFIGS),
    )  # fmt: skip
    args = parser.parse_args()
    if unknown := set(args.configs) - set(CONFIGS):
        parser.error(f"unknown configurations: {sorted(unknown)}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
