"""A reconnect storm on one broker process (issue 18): ``python -m bench.reconnect_storm``.

Each run: a fresh database (SQLite, or PostgreSQL with ``--backend postgres``) seeded with
the fleet's certificates, a real broker process (``python -m broker serve``) and
``--agents`` real agent links (``devkit.fleet``: the agent's own link code, backoff and
Retry-After handling, over mutual TLS, in ``--workers`` processes). Once every agent is
linked the broker is SIGKILLed and started again on the same ports; the agents find it by
themselves. Measured:

- ``link_up_s``: the first link-up of the whole fleet (a cold broker, every agent at once);
- ``back_s``: from the kill until every agent has linked again to the new process;
- ``peak_mib``: the new process's highest RSS until then (sampled every 0.25 s), and
  ``settled_mib`` once all are back;
- ``registered_s``: from the kill until the new process counts every agent online
  (``mamori_agents_online`` on ``/metrics``: registered in the database and the relay,
  which the agents' own "linked" precedes);
- ``health_max_s`` / ``health_failed``: ``GET /healthz`` on the browser port every 0.25 s
  from the moment the new process listens: the slowest answer and the count of probes
  that failed or took over 2 s (does the storm starve the browser side?).

A measurement on this machine, not a test: ``--agents`` and ``--workers`` as its cores
allow (the fleet's processes share the 2 cores with the broker they storm).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.idle_agents import seeded, settled_rss_kb
from devkit.broker_process import ROOT, BrokerProcess, broker_env, broker_process, rss_kb
from devkit.fleet import FleetCerts, make_fleet_certs, running_fleet

LINK_TIMEOUT_S = 600.0
PROBE_EVERY_S = 0.25
SLOW_S = 2.0
METRICS_TOKEN = secrets.token_urlsafe(24)  # this run's only


class Watch:
    """RSS peak of one process and /healthz answers, sampled until stopped."""

    def __init__(self, broker: BrokerProcess, ca: Path) -> None:
        self.broker = broker
        self.peak_kb = 0
        self.slowest = 0.0
        self.failed = 0
        self.probes = 0
        self.online = 0
        self.all_online = asyncio.Event()
        self.fleet_size = 0
        self._ca = ca

    async def run(self) -> None:
        url = f"https://127.0.0.1:{self.broker.port}/healthz"
        async with httpx.AsyncClient(verify=str(self._ca), timeout=10) as client:
            while True:
                self.peak_kb = max(self.peak_kb, rss_kb(self.broker.pid))
                started = time.monotonic()
                try:
                    ok = (await client.get(url)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = time.monotonic() - started
                self.probes += 1
                self.slowest = max(self.slowest, took)
                if not ok or took > SLOW_S:
                    self.failed += 1
                with contextlib.suppress(httpx.HTTPError):
                    metrics = await client.get(
                        url.replace("/healthz", "/metrics"),
                        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                    )
                    for line in metrics.text.splitlines():
                        if line.startswith("mamori_agents_online{"):
                            self.online = int(float(line.rsplit(" ", 1)[1]))
                    if self.fleet_size and self.online >= self.fleet_size:
                        self.all_online.set()
                await asyncio.sleep(max(0.0, PROBE_EVERY_S - took))


async def one_run(args: argparse.Namespace, certs: FleetCerts, work: Path) -> dict[str, float]:
    async with seeded(args.backend, work, certs) as (base, facade):
        base["MAMORI_METRICS_TOKEN"] = METRICS_TOKEN
        base.update(args.setting)
        log = work / "broker.log"
        async with broker_process(broker_env(base), log, root=args.broker_root) as first:
            ports = first.port, first.agent_port
            facade.agent_port = first.agent_port
            started = time.monotonic()
            async with running_fleet(
                certs, facade.agent_wss_url, facade.certs.ca_cert, args.workers, work
            ) as fleet:
                await fleet.wait_until("linked", certs.size, LINK_TIMEOUT_S)
                link_up = time.monotonic() - started
                await fleet.mark()
                killed = time.monotonic()
                first.kill()
                await first.process.wait()
                again = broker_env(base, *ports)
                async with broker_process(again, log, root=args.broker_root) as second:
                    watch = Watch(second, facade.certs.ca_cert)
                    watch.fleet_size = certs.size
                    watcher = asyncio.create_task(watch.run())
                    try:
                        await fleet.wait_until("again", certs.size, args.timeout)
                        back = time.monotonic() - killed
                        await asyncio.wait_for(watch.all_online.wait(), args.timeout)
                        registered = time.monotonic() - killed
                    finally:
                        watcher.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await watcher
                    settled = await settled_rss_kb(second)
    return {
        "link_up_s": link_up,
        "back_s": back,
        "registered_s": registered,
        "peak_mib": watch.peak_kb / 1024,
        "settled_mib": settled / 1024,
        "health_max_s": watch.slowest,
        "health_failed": float(watch.failed),
        "health_probes": float(watch.probes),
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="mamori-bench-storm-") as tmp:
        root = args.keep or Path(tmp)
        certs = make_fleet_certs(args.certs or root / "fleet", args.agents, 1)
        runs = []
        for n in range(args.runs):
            work = root / f"run{n}"
            work.mkdir(parents=True)
            try:
                result: dict[str, Any] = await one_run(args, certs, work)
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
