"""Memory per idle agent on one broker process (issue 18): ``python -m bench.idle_agents``.

Each run: a fresh SQLite database (or PostgreSQL with ``--backend postgres``) seeded with
the fleet's certificates, a real broker process (``python -m broker serve``), its RSS once it
has settled with no agent, then ``--agents`` real agent links (``devkit.fleet``: the agent's
own link code over mutual TLS, in ``--workers`` processes), and its RSS once every agent is
linked and the figure has settled again. The figure is (linked RSS - idle RSS) / agents;
the median of ``--runs`` runs is printed, with each run's.

``--broker-root DIR`` runs the broker from another checkout (e.g. one before a change) with
the same fleet, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

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
from devkit.fleet import FleetCerts, make_fleet_certs, running_fleet, seed
from devkit.identity import make_org

SETTLE_S = 3.0
LINK_TIMEOUT_S = 600.0


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


@contextlib.asynccontextmanager
async def seeded(
    backend: str, work: Path, certs: FleetCerts
) -> AsyncIterator[tuple[dict[str, str], RunningBroker]]:
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
        finally:
            await app.state.db.dispose()
        yield base, facade


async def one_run(args: argparse.Namespace, certs: FleetCerts, work: Path) -> dict[str, float]:
    async with (
        seeded(args.backend, work, certs) as (base, facade),
        broker_process(broker_env(base), work / "broker.log", root=args.broker_root) as broker,
    ):
        idle = await settled_rss_kb(broker)
        facade.agent_port = broker.agent_port
        started = time.monotonic()
        async with running_fleet(
            certs, facade.agent_wss_url, facade.certs.ca_cert, args.workers, work
        ) as fleet:
            await fleet.wait_until("linked", certs.size, LINK_TIMEOUT_S)
            linked_after = time.monotonic() - started
            linked = await settled_rss_kb(broker)
    return {
        "idle_mib": idle / 1024,
        "linked_mib": linked / 1024,
        "kb_per_agent": (linked - idle) * 1.024 / certs.size,
        "link_up_s": linked_after,
    }


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mamori-bench-idle-") as tmp:
        root = Path(tmp)
        certs = make_fleet_certs(args.certs or root / "fleet", args.agents, 1)
        runs = []
        for n in range(args.runs):
            work = root / f"run{n}"
            work.mkdir()
            result = await one_run(args, certs, work)
            print(f"run {n + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()))
            runs.append(result)
        print(
            f"median of {args.runs} ({args.agents} agents, {args.backend}, broker from "
            f"{args.broker_root}): "
            + ", ".join(f"{k} {statistics.median(r[k] for r in runs):.1f}" for k in runs[0])
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_agents", description=__doc__)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--broker-root", type=Path, default=ROOT)
    parser.add_argument("--certs", type=Path, help="reuse fleet certificates made before")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
