"""Streaming over a lossy link: stacks side by side per level, in turn on one link.

    sudo .venv/bin/python -m bench.lossy_stream [--seconds 30] [--losses 0,0.05]
        [--delay 0.03] [--variants after,novnc] [--before DIR]

Needs root (network namespaces, as the network tier) and Debian's chromium. For each loss
level it builds two namespaces, ``clinic`` and ``home``, joined by the userspace link
emulator (``devkit/link_emulator.py``) with that random loss and the one-way delay, both
ways. Inside ``clinic`` (``--inner``) run the broker (in process, on the clinic's loopback),
the glass on an Xvfb scrolling its chart text at ``--speed`` px/s, and the agent; Chromium
runs in ``home`` and reaches the broker's pages through a small CONNECT proxy on the
clinic's address (the broker listens on loopback only), while the media goes directly
between the two namespaces' addresses, across the emulated link. The viewer is the real
viewer page.

The variants, in turn on the same link, the order reversed every other level: ``after``
this checkout's agent; ``novnc`` x11vnc + websockify + noVNC (``bench/lossy_novnc.py``);
``fec`` this checkout's agent with RED/ULPFEC turned on (``MAMORI_FEC=1``, off by default);
``before`` the agent code exported to ``--before`` (e.g. ``git archive <commit> | tar -x -C
DIR``; the broker and viewer are this checkout's, so only while the agent protocol has not
changed). For every variant, from the glass's code in each picture: new pictures per
second, the longest freeze, freezes over 1 s, glass-to-glass latency; and the kbit/s and
packets lost on the link (clinic to home). For ours also Chromium's inbound-rtp stats:
frames decoded, freezes (``freezeCount`` / ``totalFreezesDuration``), NACKs and PLIs,
packets lost, keyframes decoded. One run per level: a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from playwright.async_api import async_playwright

from bench.link_runs import CLINIC_ADDR, ROOT, run_inner, run_order, spec
from bench.loopback_proxy import connect_proxy
from bench.stacks import PROBE_JS
from bench.stream_figures import (
    SAMPLE_S,
    link_figures,
    longest_freeze,
    per_second,
    picture_figures,
)
from devkit.netns import build, netns_wrapper

PROXY_PORT: Final = 3128
CHROMIUM: Final = "/usr/bin/chromium"
HOST_ID: Final = "lossy-pc"
VARIANTS: Final = ("before", "after", "fec", "nofec", "novnc", "canvas")

# Every picture the <video> presents (requestVideoFrameCallback): the longest stretch
# without one is the longest freeze a person saw, whether or not frames came back.
WATCH_FRAMES = """() => {
  const video = document.getElementById('remote-video');
  window.__frames = [];
  const onFrame = (now) => { window.__frames.push(now); video.requestVideoFrameCallback(onFrame); };
  video.requestVideoFrameCallback(onFrame);
}"""

GAPS = """([from, to]) => {
  const times = window.__frames.filter((t) => t >= from && t <= to);
  const edges = [from, ...times, to];
  let longest = 0, over1s = 0;
  for (let i = 1; i < edges.length; i++) {
    const gap = edges[i] - edges[i - 1];
    longest = Math.max(longest, gap);
    if (gap > 1000) over1s += 1;
  }
  return {longest_gap_ms: Math.round(longest), gaps_over_1s: over1s, presented: times.length};
}"""

INBOUND = """() => {
  const pcs = window.__benchPeerConnections || [];
  const pc = pcs[pcs.length - 1];
  if (!pc) return null;
  return pc.getStats().then((report) => {
    for (const r of report.values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        return {framesDecoded: r.framesDecoded, freezeCount: r.freezeCount ?? 0,
          totalFreezesDuration: r.totalFreezesDuration ?? 0, nackCount: r.nackCount,
          pliCount: r.pliCount, packetsLost: r.packetsLost, packetsReceived: r.packetsReceived,
          keyFramesDecoded: r.keyFramesDecoded, bytesReceived: r.bytesReceived,
          fecPacketsReceived: r.fecPacketsReceived ?? 0,
          fecPacketsDiscarded: r.fecPacketsDiscarded ?? 0};
      }
    }
    return null;
  });
}"""


def write_ready(path: str, wall_start: float) -> None:
    """Tell the outer process when the window started: written whole, then renamed into
    place, so the outer process, polling for the file, never reads it half written (seen:
    an empty file read as a float)."""
    partial = Path(path + ".partial")
    partial.write_text(repr(wall_start), encoding="ascii")
    os.replace(partial, path)


async def inner(args: argparse.Namespace) -> dict[str, Any]:
    """Inside the clinic namespace: broker, glass, agent; Chromium in the home namespace."""
    from bench.glass_process import Glass
    from bench.stacks import RECORD_PEERS
    from devkit.agent import enroll_agent
    from devkit.broker import make_certs, running_broker
    from devkit.browser import approve_this_browser, sign_in
    from devkit.databases import sqlite_url
    from devkit.display import start_xvfb
    from devkit.identity import make_org, make_person

    tmp = Path(tempfile.mkdtemp(prefix="mamori-lossy-"))
    proxy = await asyncio.start_server(connect_proxy, CLINIC_ADDR, PROXY_PORT)
    try:
        certs = make_certs(tmp / "certs")
        with start_xvfb(1280, 720) as display:
            glass = await Glass.start(display, tmp / "paints.txt")
            try:
                async with running_broker(certs, sqlite_url(tmp)) as broker:
                    org = await make_org(broker, "lossy")
                    person = await make_person(broker, org, "doctor")
                    await enroll_agent(broker, org, HOST_ID, tmp / "agent", "lossy")
                    ours = args.variant in ("after", "fec", "nofec", "canvas")
                    code = ROOT if ours else Path(args.before).resolve()
                    env = {**os.environ, "PYTHONPATH": str(code)}
                    if args.variant == "fec":  # this checkout's agent, RED/ULPFEC on
                        env["MAMORI_FEC"] = os.environ.get("MAMORI_FEC") or "1"  # or h264
                    elif args.variant == "nofec":
                        env["MAMORI_FEC"] = "0"
                    elif ours:  # "after": the agent's own defaults, whatever this shell says
                        env.pop("MAMORI_FEC", None)
                    log = open(tmp / "agent.log", "wb")  # noqa: SIM115
                    # --record-cc: the same agent, its congestion control recorded.
                    module = (
                        ["devkit.cc_recorder", str(Path(args.record_cc).resolve()), "--"]
                        if args.record_cc
                        else ["host_agent"]
                    )
                    agent = subprocess.Popen(
                        [sys.executable, "-m", *module, "--state-dir", str(tmp / "agent"),
                         "--broker", broker.agent_wss_url, "--name", "lossy",
                         "--display", display.name, "--ice-address", CLINIC_ADDR],
                        cwd=code, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    )  # fmt: skip
                    try:
                        result = await _view(args, broker, person, certs, tmp, glass, RECORD_PEERS,
                                           sign_in, approve_this_browser)  # fmt: skip
                    finally:
                        agent.terminate()
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            agent.wait(10)
                        agent.kill()
                        log.close()
                        if args.agent_log:  # kept for a run that went wrong
                            shutil.copy(tmp / "agent.log", args.agent_log)
            finally:
                # Stopped first: the glass's log is complete only once it has quit.
                paints = glass.stop()
            raw = result.pop("raw")
            return {
                "per_second": per_second(raw["samples"], raw["decoded"], paints, raw["start"]),
                **picture_figures(raw["decoded"], paints, raw["start"], raw["end"]),
                **result,
            }
    finally:
        proxy.close()
        shutil.rmtree(tmp, ignore_errors=True)


async def _view(
    args: argparse.Namespace, broker: Any, person: Any, certs: Any, tmp: Path, glass: Any,
    record_peers: str, sign_in: Any, approve: Any,
) -> dict[str, Any]:  # fmt: skip
    profile = tmp / "profile"
    profile.mkdir()
    executable = str(netns_wrapper(args.home_netns, CHROMIUM, tmp))
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--ignore-certificate-errors-spki-list={certs.spki_sha256_b64}",
                f"--proxy-server=http://{CLINIC_ADDR}:{PROXY_PORT}",
                "--proxy-bypass-list=<-loopback>",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                *os.environ.get("MAMORI_BENCH_CHROMIUM_ARGS", "").split(),
            ],
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        context.set_default_timeout(60_000)
        try:
            await context.add_init_script(record_peers)
            page = await context.new_page()
            await sign_in(page, broker, person)
            await approve(page, broker, person)
            canvas = args.variant == "canvas"  # the viewer's canvas video path, "after"'s agent
            query = "?video=canvas" if canvas else ""
            await page.goto(f"{broker.public_origin}/viewer.html{query}#/host/{HOST_ID}")
            await page.wait_for_function(
                "() => document.body.dataset.connection === 'connected'"
                " && document.body.dataset.video === 'playing'"
                + (" && window.mamoriCanvasVideo.state === 'drawing'" if canvas else ""),
                timeout=60_000,
            )
            await page.evaluate(WATCH_FRAMES)
            await page.evaluate(PROBE_JS.read_text(encoding="utf-8"))
            watch = "watchCanvas" if canvas else "watchOurs"
            await page.evaluate(f"() => window.__probe.{watch}()")
            await glass.command(f"mode {args.mode or f'scroll{args.speed}'}", expect="ok mode")
            await asyncio.sleep(2.0)
            before = await page.evaluate(INBOUND)
            window_from = await page.evaluate("() => performance.now()")
            started, wall_start = time.monotonic(), time.time()
            if args.ready_file:  # the outer process changes the link relative to this
                write_ready(args.ready_file, wall_start)
            samples = [{"t": 0.0, **before}]
            later = sorted(args.then_mode or [])  # (offset, mode): the glass's next modes
            for _ in range(int(args.seconds / SAMPLE_S) + 1):  # one sample per SAMPLE_S
                left = started + args.seconds - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(SAMPLE_S, left))
                if later and time.monotonic() - started >= later[0][0]:
                    await glass.command(f"mode {later.pop(0)[1]}", expect="ok mode")
                samples.append({"t": time.monotonic() - started, **await page.evaluate(INBOUND)})
            after = samples[-1]
            window_to = await page.evaluate("() => performance.now()")
            gaps = await page.evaluate(GAPS, [window_from, window_to])
            probe = await page.evaluate("() => window.__probe.drain()")
            elapsed = time.monotonic() - started
            quality = await page.evaluate("() => document.body.dataset.quality ?? null")
            presented = await page.evaluate(
                "(from) => window.__frames.filter((t) => t >= from).map((t) => t - from)",
                window_from,
            )
            # The viewer's state changes (connected -> reconnecting ...) and its peer
            # connections: a session torn down and rebuilt shows in both.
            connection_log = await page.evaluate("() => window.mamoriConnectionLog ?? []")
            peers = await page.evaluate("() => (window.__benchPeerConnections || []).length")
            # The canvas path's end state and its decoder's counts (skips, keyframe asks).
            canvas_path = await page.evaluate(
                "() => { const c = window.mamoriCanvasVideo;"
                " return c && {state: c.state, reason: c.reason, counts: c.counts}; }"
            )
        finally:
            await context.close()
    decoded = [(int(c), float(t)) for c, t, *_ in probe["decoded"]]
    delta = {k: after[k] - before[k] for k in after if k != "t"}
    return {
        "raw": {
            "samples": samples,
            "decoded": decoded,
            "start": wall_start,
            "end": wall_start + elapsed,
        },
        "longest_freeze_s": longest_freeze(samples),
        "variant": args.variant,
        "seconds": round(elapsed, 1),
        "fps": round(delta["framesDecoded"] / elapsed, 1),
        "freezes": delta["freezeCount"],
        "freeze_s": round(delta["totalFreezesDuration"], 1),
        "nacks": delta["nackCount"],
        "plis": delta["pliCount"],
        "lost": delta["packetsLost"],
        "received": delta["packetsReceived"],
        "keyframes_decoded": delta["keyFramesDecoded"],
        "fec_received": delta["fecPacketsReceived"],
        "fec_discarded": delta["fecPacketsDiscarded"],
        "kbit_s": round(delta["bytesReceived"] * 8 / elapsed / 1000),
        "quality_word": quality,
        "presented_fps": round(gaps["presented"] / elapsed, 1),
        "longest_gap_ms": gaps["longest_gap_ms"],
        "gaps_over_1s": gaps["gaps_over_1s"],
        # Each presented picture (requestVideoFrameCallback), s from the window's start.
        "presented_s": [round(t / 1000, 3) for t in presented],
        "connection_log": [e for e in connection_log if e["at"] >= wall_start * 1000],
        "peer_connections": peers,
        "canvas_path": canvas_path,
        "freeze_samples": [
            {k: s[k] for k in ("t", "freezeCount", "totalFreezesDuration")} for s in samples
        ],
    }


async def outer(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each loss level on its own link; the variants in turn on it (alternating order)."""
    rows = []
    for run, loss in enumerate(args.losses):
        async with build(spec(loss, args.delay, 17)) as topo:
            for variant in run_order(args.variants, run):
                keep = (
                    ["--agent-log", str(Path(args.logs) / f"{variant}-{run}-{loss}.log")]
                    if args.logs
                    else []
                )
                # noVNC's side lives in its own module; both take the same arguments.
                module = "bench.lossy_novnc" if variant == "novnc" else "bench.lossy_stream"
                argv = [
                    sys.executable, "-m", module, "--inner", "--variant", variant,
                    "--before", str(Path(args.before or ROOT).resolve()),
                    "--speed", str(args.speed), *keep,
                ]  # fmt: skip
                result = await run_inner(topo, argv, args.seconds, snapshots=(0.0, args.seconds))
                row = {"loss": loss, "delay_ms": args.delay * 1000, **result,
                       **link_figures(result["link"])}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _offset_mode(text: str) -> tuple[float, str]:
    offset, _, mode = text.partition(":")
    return float(offset), mode


def parser() -> argparse.ArgumentParser:
    """The command line, shared with the inner runs (``bench.lossy_novnc`` too)."""
    parser = argparse.ArgumentParser(prog="bench.lossy_stream", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--losses", type=lambda t: [float(x) for x in t.split(",")], default=[0.0, 0.05]
    )
    parser.add_argument("--delay", type=float, default=0.03)
    parser.add_argument("--speed", type=int, default=400)
    parser.add_argument("--before", help="the agent's code to run as 'before'")
    parser.add_argument(
        "--variants",
        type=lambda t: t.split(","),
        default=["after", "novnc"],
        help="which stacks to run, in order, alternating by level (before,after,fec,novnc)",
    )
    parser.add_argument("--logs", help="keep each agent's (or x11vnc's) log in this directory")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agent-log", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help="the glass's mode instead of scroll<speed> (e.g. image)")
    parser.add_argument(
        "--then-mode", action="append", type=_offset_mode, help="OFFSET:MODE (s into the window)"
    )
    parser.add_argument("--home-netns", help=argparse.SUPPRESS)
    parser.add_argument(
        "--record-cc", help="record the agent's congestion-control inputs (devkit/cc_recorder.py)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.inner:
        print(json.dumps(asyncio.run(inner(args))), flush=True)
        return 0
    if "before" in args.variants and not args.before:
        parser().error("--variants before needs --before DIR")
    from bench.lossy_novnc import side_by_side, webrtc_table

    rows = asyncio.run(outer(args))
    print(side_by_side(rows))
    if webrtc := [r for r in rows if r["variant"] != "novnc"]:
        print(webrtc_table(webrtc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
