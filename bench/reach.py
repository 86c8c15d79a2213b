"""Reach bench: time to first picture, glass-to-glass latency and bitrate in each network
shape, side by side in one run, with delay on the access links (the userspace link
emulator: this kernel has no netem).

    sudo .venv/bin/python -m bench.reach [--runs 3] [--seconds 8] [--home-delay-ms 20]

Each shape builds the clinic–home topology (devkit/internet.py), coturn, the broker, a
real agent and Chromium in the home (devkit/reach.py, as tests/network/test_reach.py
does), shows the glass (bench/glass.py: a frame code painted at 100 Hz) on the clinic
PC's display, and reads the code from every decoded picture in the viewer
(bench/receivers/probe.js). Shapes:

- ``srflx``: both behind NAT, policy all (the selected pair is reported: ICE may relay);
- ``relay-udp``: relay only (TURN over UDP at both ends);
- ``relay-tls``: the home passes only TCP 443, relay only (the viewer on TURN/TLS 443);
- ``direct`` is not a shape of this topology (neither LAN is routable from the other; a
  doctor inside the clinic LAN connects host to host with no emulated link between).

Prints one JSON object: per shape, the medians over the runs of first picture (s),
glass-to-glass p50/p95 (ms), and the receive bitrate (kbit/s, the viewer transport's
bytes received: what crosses the TURN server when relayed), with each run's raw figures.
The glass is mostly still (only its code strip changes at 100 Hz): the bitrate is that of
a quiet clinic screen, not of scrolling.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench import metrics
from bench.glass_process import Glass
from bench.stacks import PROBE_JS, RECORD_PEERS
from devkit.chromium import chromium
from devkit.display import start_xvfb
from devkit.internet import ADDRESSES, CLINIC, HOME, INTERNET, clinic_and_home
from devkit.link_model import LinkConfig
from devkit.netns import build
from devkit.netns_loop import namespace_loop
from devkit.reach import reach_world
from devkit.turn import running_turn

SHAPES: dict[str, dict[str, Any]] = {
    "srflx": {},
    "relay-udp": {"ice_policy": "relay"},
    "relay-tls": {"ice_policy": "relay", "home_egress_tcp": (443,)},
}


# Bytes received on the viewer's transport (UDP payload, or TURN's TLS stream's payload).
TRANSPORT_BYTES = """async () => {
  const pc = (window.__benchPeerConnections || []).at(-1);
  if (!pc) return 0;
  let bytes = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "transport") bytes += s.bytesReceived || 0;
  });
  return bytes;
}"""


def spki_of(pem: Path) -> str:
    """Base64 SHA-256 of a certificate's public key, as Chromium's SPKI list wants it."""
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def measure_shape(
    shape: str, directory: Path, seconds: float, home_delay: float, clinic_delay: float
) -> dict[str, Any]:
    """One session in ``shape``: first picture, glass-to-glass latencies, bitrate."""
    options = dict(SHAPES[shape])
    egress = options.pop("home_egress_tcp", None)
    spec = clinic_and_home(
        home_link=LinkConfig(delay=home_delay),
        clinic_link=LinkConfig(delay=clinic_delay),
        home_egress_tcp=egress,
        seed=1,
    )
    directory.mkdir(parents=True, exist_ok=True)
    with start_xvfb(1280, 720) as xvfb:
        glass = await Glass.start(xvfb, directory / "paints.txt")
        try:
            async with (
                build(spec) as topo,
                running_turn(topo, INTERNET, ADDRESSES.server, directory / "turn") as turn,
                namespace_loop(topo.netns(INTERNET)) as internet,
                namespace_loop(topo.netns(CLINIC)) as clinic,
                reach_world(
                    topo, directory / "world", turn, internet, clinic, xvfb, **options
                ) as world,
                chromium(
                    directory / "profile",
                    f"{world.broker.certs.spki_sha256_b64},"
                    f"{spki_of(turn.ca_file.parent / 'turn-cert.pem')}",
                    netns=topo.netns(HOME),
                    extra_args=world.chromium_args,
                ) as context,
            ):
                os.environ["SSL_CERT_FILE"] = str(turn.ca_file)  # the agent's turns: client
                await context.add_init_script(RECORD_PEERS)
                page, first_picture = await world.open_viewer(context, timeout_ms=60_000)
                await page.evaluate(PROBE_JS.read_text(encoding="utf-8"))
                await page.evaluate("() => window.__probe.watchOurs()")
                await asyncio.sleep(1.0)  # settle past the first frames
                await page.evaluate("() => window.__probe.drain()")
                before = await page.evaluate(TRANSPORT_BYTES)
                start = time.time()
                await asyncio.sleep(seconds)
                end = time.time()
                after = await page.evaluate(TRANSPORT_BYTES)
                drained = await page.evaluate("() => window.__probe.drain()")
                route = await page.evaluate("() => window.mamoriStats || {}")
        finally:
            paints = glass.stop()
    decoded = [(int(c), float(t)) for c, t, *_ in drained["decoded"]]
    latencies = metrics.latencies_ms(decoded, paints, (start, end))
    if not latencies:
        print(
            json.dumps({k: drained[k] for k in ("pictures", "unreadable", "errors")}),
            len(drained["decoded"]), len(paints), file=sys.stderr,
        )  # fmt: skip
    payload = after - before
    return {
        "route": {
            k: route.get(k) for k in ("localCandidateType", "remoteCandidateType", "relayProtocol")
        },
        "first_picture_s": round(first_picture, 2),
        "glass_p50_ms": _percentile(latencies, 0.5),
        "glass_p95_ms": _percentile(latencies, 0.95),
        "samples": len(latencies),
        "kbit_s": round(payload * 8 / (end - start) / 1000, 1),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _percentile(values: list[float], q: float) -> float | None:
    return _round(metrics.percentile(values, q)) if values else None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {shape: [] for shape in args.shapes}
    with tempfile.TemporaryDirectory(prefix="mamori-reach-") as tmp:
        for n in range(args.runs):
            for shape in args.shapes:  # interleaved: load on the machine hits every shape
                directory = Path(tmp) / f"{shape}-{n}"
                figures = await measure_shape(
                    shape, directory, args.seconds, args.home_delay_ms / 1000,
                    args.clinic_delay_ms / 1000,
                )  # fmt: skip
                print(json.dumps({"shape": shape, "run": n, **figures}), file=sys.stderr)
                results[shape].append(figures)
    summary = {
        shape: {
            key: _median([r[key] for r in runs])
            for key in ("first_picture_s", "glass_p50_ms", "glass_p95_ms", "kbit_s")
        }
        | {"routes": [r["route"] for r in runs]}
        for shape, runs in results.items()
    }
    return {
        "delay_ms": {"home_link": args.home_delay_ms, "clinic_link": args.clinic_delay_ms},
        "seconds": args.seconds,
        "runs": args.runs,
        "summary": summary,
        "raw": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring window per run")
    parser.add_argument("--home-delay-ms", type=float, default=20.0, help="one way, each way")
    parser.add_argument("--clinic-delay-ms", type=float, default=10.0, help="one way, each way")
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
