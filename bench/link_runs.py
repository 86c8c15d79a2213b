"""Runs across the emulated link, driven from outside the namespaces (``bench/lossy_stream.py``
is what runs inside): the two namespaces, ``clinic`` and ``home``, joined by the link
emulator; an inner run started in ``clinic``; and, relative to the window that run reports
through its ready file, what is done to the link meanwhile (changes, outages, snapshots of
its counters). ``stream_once`` is what the network tests call.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from devkit.link_model import LinkConfig
from devkit.netns import build
from devkit.topology import Emulated, TopologySpec

CLINIC, HOME = "clinic", "home"
CLINIC_ADDR, HOME_ADDR = "192.0.2.10", "192.0.2.20"
ROOT: Final = Path(__file__).resolve().parents[1]


def timeline(
    changes: tuple[tuple[float, LinkConfig], ...],
    snapshots: tuple[float, ...],
    outages: tuple[tuple[float, float], ...],
) -> list[tuple[float, str, Any]]:
    """What ``stream_once`` does to the link and when: (offset, kind, what) in time order,
    a change before a snapshot at the same offset (the snapshot sees it)."""
    events: list[tuple[float, str, Any]] = [(at, "change", c) for at, c in changes]
    events += [(at, "outage", seconds) for at, seconds in outages]
    events += [(at, "snapshot", None) for at in snapshots]
    order = {"change": 0, "outage": 1, "snapshot": 2}
    return sorted(events, key=lambda e: (e[0], order[e[1]]))


def spec(loss: float, delay: float, seed: int) -> TopologySpec:
    link = LinkConfig(delay=delay, loss=loss, queue_bytes=256 * 1024)
    return link_spec(link, link, seed)


def link_spec(clinic_to_home: LinkConfig, home_to_clinic: LinkConfig, seed: int) -> TopologySpec:
    return TopologySpec(
        namespaces=(CLINIC, HOME),
        links=(
            Emulated(
                CLINIC,
                "eth0",
                f"{CLINIC_ADDR}/24",
                HOME,
                "eth0",
                f"{HOME_ADDR}/24",
                clinic_to_home,
                home_to_clinic,
                seed,
            ),
        ),
    )


async def stream_once(
    clinic_to_home: LinkConfig,
    home_to_clinic: LinkConfig,
    seconds: float,
    speed: int = 400,
    mode: str | None = None,
    changes: tuple[tuple[float, LinkConfig], ...] = (),
    snapshots: tuple[float, ...] = (),
    agent_log: Path | None = None,
    seed: int = 17,
    outages: tuple[tuple[float, float], ...] = (),
    record_cc: Path | None = None,
    modes: tuple[tuple[float, str], ...] = (),
) -> dict[str, Any]:
    """One run of this checkout's agent over a link built for it (the network tests use
    this): ``changes`` reconfigure the clinic-to-home direction at offsets (s) from the
    window's start; ``snapshots`` read that direction's emulator counters at offsets;
    ``outages`` (offset, seconds) take the link down both ways; ``modes`` (offset, mode)
    switch the glass's content (to within a sample, 0.5 s). The inner run's figures,
    plus ``link``: [(offset, counters)] and ``outages``: [(offset, seconds)], the offset
    read just before the emulator was told (it starts the outage on receipt)."""
    argv = [
        sys.executable, "-m", "bench.lossy_stream", "--inner", "--variant", "after",
        "--before", str(ROOT), "--speed", str(speed), *(["--mode", mode] if mode else []),
        *(["--agent-log", str(agent_log)] if agent_log else []),
        *(["--record-cc", str(record_cc)] if record_cc else []),
        *(f"--then-mode={at}:{then}" for at, then in modes),
    ]  # fmt: skip
    async with build(link_spec(clinic_to_home, home_to_clinic, seed)) as topo:
        return await run_inner(topo, argv, seconds, changes, snapshots, outages)


async def run_inner(
    topo: Any,
    argv: list[str],
    seconds: float,
    changes: tuple[tuple[float, LinkConfig], ...] = (),
    snapshots: tuple[float, ...] = (),
    outages: tuple[tuple[float, float], ...] = (),
) -> dict[str, Any]:
    """Run an inner command (``argv``: ours or noVNC's) in the clinic namespace of ``topo``
    for a window of ``seconds``, doing ``timeline`` to the link relative to the window's
    start (the inner run writes it to its ready file); its JSON plus ``link`` and ``outages``
    as ``stream_once`` says."""
    tmp = Path(tempfile.mkdtemp(prefix="mamori-stream-"))
    ready = tmp / "ready"
    argv = [*argv, "--home-netns", topo.netns(HOME), "--seconds", str(seconds),
            "--ready-file", str(ready)]  # fmt: skip
    run = asyncio.ensure_future(topo.exec(CLINIC, *argv, timeout=seconds + 300))
    link: list[tuple[float, dict[str, Any]]] = []
    down: list[tuple[float, float]] = []
    try:
        for _ in range(3000):  # the inner run's set-up (sign-in, first picture): < 300 s
            if ready.exists() or run.done():
                break
            await asyncio.sleep(0.1)
        if ready.exists():
            start = float(ready.read_text(encoding="ascii"))
            emulator = topo.emulator(CLINIC, HOME)
            for at, kind, what in timeline(changes, snapshots, outages):
                await asyncio.sleep(max(0.0, start + at - time.time()))
                if kind == "change":
                    await emulator.configure(what, direction="a_to_b")
                elif kind == "outage":
                    down.append((round(time.time() - start, 3), what))
                    await emulator.outage(what, direction="both")
                else:
                    # The clinic-to-home counters, and how late the emulator's pump was
                    # (its own added delay: a starved machine shows there).
                    stats = await emulator.stats()
                    pump = stats["pump"]["lateness_max_ms"]
                    link.append((at, {**stats["a_to_b"], "pump_lateness_max_ms": pump}))
        out = await run
    finally:
        if not run.done():
            run.cancel()
        shutil.rmtree(tmp, ignore_errors=True)
    return {**json.loads(out.strip().splitlines()[-1]), "link": link, "outages": down}


def run_order(variants: list[str], run: int) -> list[str]:
    """The variants in the given order on even runs, reversed on odd ones: drift in the
    machine's load, or the link's state after a run, does not always favour one."""
    return list(variants) if run % 2 == 0 else list(reversed(variants))
