"""What the userspace link emulator itself adds: its accuracy and its cost on this machine.

Two namespaces joined twice: by a plain veth pair (the kernel's own path) and by the
emulator (two TUN devices and the pump). The same probes cross both:

- *added round trip at 0 ms configured delay*: UDP round-trip medians, emulator − veth;
- *delay accuracy*: 30 ms each way configured, UDP round trips against 60 ms, and the
  pump's own lateness (how long after its due time it released a packet);
- *packet rate*: UDP blasts at rising rates (small and full-size packets) through the
  emulator with no shaping: the highest rate delivered with under 1 % loss.

    .venv/bin/python -m bench.link_overhead [--json out.json]

Needs root, ``ip`` and ``/dev/net/tun`` (deploy/setup.sh test installs iproute2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from devkit.link_model import LinkConfig
from devkit.netns import Topology, build, probe_argv
from devkit.topology import Emulated, TopologySpec, Veth

EMU_NEAR, EMU_FAR = "198.51.100.1", "198.51.100.2"
VETH_NEAR, VETH_FAR = "192.0.2.1", "192.0.2.2"
SPEC = TopologySpec(
    namespaces=("near", "far"),
    links=(
        Emulated("near", "emu0", f"{EMU_NEAR}/24", "far", "emu0", f"{EMU_FAR}/24", LinkConfig()),
        Veth("near", "veth0", f"{VETH_NEAR}/24", "far", "veth0", f"{VETH_FAR}/24"),
    ),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_trips(topo: Topology, to: str, count: int) -> list[float]:
    result = await topo.probe(
        "near",
        "udp-ping",
        "--to",
        to,
        "--port",
        "9000",
        "--count",
        str(count),
        "--interval",
        "0.005",
        "--realtime",
    )
    return [float(v) for v in result["rtt_ms"]]


async def blast(topo: Topology, pps: int, size: int, port: int) -> dict[str, Any]:
    emulator = topo.emulator("near", "far")
    before = (await emulator.stats())["a_to_b"]["delivered"]
    async with topo.process(
        "far",
        *probe_argv(
            "udp-sink",
            "--bind",
            EMU_FAR,
            "--port",
            str(port),
            "--gap",
            "0.5",
            "--lifetime",
            "20",
            "--realtime",
        ),
    ) as sink:
        await sink.ready()
        sent = await topo.probe(
            "near",
            "udp-blast",
            "--to",
            EMU_FAR,
            "--port",
            str(port),
            "--pps",
            str(pps),
            "--size",
            str(size),
            "--seconds",
            "1",
            "--realtime",
        )
        got = await sink.read_json()
    delivered = got["received"]
    through_emulator = (await emulator.stats())["a_to_b"]["delivered"] - before
    return {
        "through_emulator": through_emulator,
        "offered_pps": pps,
        "size": size,
        "sent": sent["sent"],
        "delivered": delivered,
        "loss": 1 - delivered / max(sent["sent"], 1),
        "delivered_pps": delivered / max(sent["seconds"], 1e-9),
    }


async def measure(samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with (
        build(SPEC) as topo,
        topo.process("far", *probe_argv("udp-echo", "--port", "9000", "--realtime")) as echo,
    ):
        await echo.ready()
        emulator = topo.emulator("near", "far")
        veth = await round_trips(topo, VETH_FAR, samples)
        emu = await round_trips(topo, EMU_FAR, samples)
        out["rtt_veth_ms"] = {"p50": statistics.median(veth), "p90": percentile(veth, 0.9)}
        out["rtt_emulator_0ms_ms"] = {"p50": statistics.median(emu), "p90": percentile(emu, 0.9)}
        out["added_rtt_ms_p50"] = statistics.median(emu) - statistics.median(veth)
        await emulator.configure(LinkConfig(delay=0.030))
        before = (await emulator.stats())["pump"]
        delayed = await round_trips(topo, EMU_FAR, samples)
        after = (await emulator.stats())["pump"]
        out["rtt_30ms_each_way"] = {
            "min": min(delayed),
            "p50": statistics.median(delayed),
            "p90": percentile(delayed, 0.9),
            "p99": percentile(delayed, 0.99),
            "max": max(delayed),
        }
        out["pump_lateness_ms_over_run"] = {
            "mean_all_time": after["lateness_mean_ms"],
            "max_all_time": after["lateness_max_ms"],
            "released_in_delay_run": after["released"] - before["released"],
        }
        await emulator.configure(LinkConfig())
        rates = []
        port = 9300
        for size in (64, 1200):
            for pps in (10_000, 20_000, 40_000, 80_000, 160_000, 320_000):
                port += 1
                result = await blast(topo, pps, size, port)
                rates.append(result)
                if result["loss"] > 0.01:
                    break
        out["blasts"] = rates
        for size in (64, 1200):
            ok = [r["delivered_pps"] for r in rates if r["size"] == size and r["loss"] <= 0.01]
            out[f"max_pps_under_1pct_loss_{size}B"] = max(ok) if ok else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(measure(args.samples))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
