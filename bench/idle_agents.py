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
import statistics
import tempfile
import time
from pathlib import Path

from devkit.broker_process import ROOT, broker_env, broker_process
from devkit.fleet import FleetCerts, make_fleet_certs, running_fleet
from devkit.storm import LINK_TIMEOUT_S, seeded, settled_rss_kb


async def one_run(args: argparse.Namespace, certs: FleetCerts, work: Path) -> dict[str, float]:
    log = work / "broker.log"
    async with (
        seeded(args.backend, work, certs) as ready,
        broker_process(broker_env(ready.base), log, root=args.broker_root) as broker,
    ):
        idle = await settled_rss_kb(broker)
        facade = ready.facade
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
