"""A reconnect storm on one broker process (issue 18): ``python -m bench.reconnect_storm``.

Each run is ``devkit.storm.storm``, the code the suite's storm test runs: a fresh database
(SQLite, or PostgreSQL with ``--backend postgres``) seeded with the fleet's certificates, a
real broker process (``python -m broker serve``) and ``--agents`` real agent links
(``devkit.fleet``: the agent's own link code, backoff and Retry-After handling, over mutual
TLS, in ``--workers`` processes). Once every agent is linked the broker is SIGKILLed and
started again on the same ports; the agents find it by themselves. Measured:

- ``link_up_s``: the first link-up of the whole fleet (a cold broker, every agent at once);
- ``back_s``: from the kill until every agent has linked again to the new process;
- ``registered_s``: from the kill until the new process counts every agent online
  (``mamori_agents_online`` on ``/metrics``: registered in the database and the relay,
  which the agents' own "linked" precedes);
- ``idle_mib``: the first process's settled RSS before any agent; ``peak_mib``: the new
  process's highest RSS until all are back (sampled every 0.25 s), ``settled_mib`` after;
- ``api_max_s`` / ``api_failed``: a signed-in admin's ``GET /api/session`` on the browser
  port every 0.25 s from the moment the new process listens (the session is read from the
  database): the slowest answer and the count of calls that failed or took over 2 s.

A measurement on this machine: ``--agents`` and ``--workers`` as its cores allow (the
fleet's processes share the cores with the broker they storm).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from devkit.broker_process import ROOT
from devkit.fleet import make_fleet_certs
from devkit.storm import storm


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="mamori-bench-storm-") as tmp:
        root = args.keep or Path(tmp)
        certs = make_fleet_certs(args.certs or root / "fleet", args.agents, 1)
        runs = []
        for n in range(args.runs):
            work = root / f"run{n}"
            work.mkdir(parents=True)
            try:
                figures = await storm(
                    args.backend,
                    certs,
                    work,
                    workers=args.workers,
                    timeout_s=args.timeout,
                    settings=dict(args.setting),
                    broker_root=args.broker_root,
                )
                result: dict[str, Any] = figures.as_dict()
            except TimeoutError as exc:  # a storm that does not settle is a figure too
                result = {"failed": str(exc)}
            print(json.dumps({"run": n + 1, "agents": args.agents, **result}), flush=True)
            runs.append(result)
        done = [r for r in runs if "failed" not in r]
        if done:
            print(
                f"median of {len(done)} of {args.runs} ({args.agents} agents, {args.backend}): "
                + ", ".join(f"{k} {statistics.median(r[k] for r in done):.2f}" for k in done[0])
            )
        return runs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconnect_storm", description=__doc__)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=180.0, help="s for all to come back")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--broker-root", type=Path, default=ROOT)
    parser.add_argument("--certs", type=Path, help="reuse fleet certificates made before")
    parser.add_argument("--keep", type=Path, help="work here and keep the logs (an empty dir)")
    parser.add_argument(
        "--setting",
        type=lambda text: tuple(text.split("=", 1)),
        action="append",
        default=[],
        metavar="MAMORI_NAME=VALUE",
        help="a broker setting for this run (repeatable)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
