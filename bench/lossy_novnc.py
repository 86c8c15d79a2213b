"""x11vnc + websockify + noVNC over the same emulated link as our agent, for
``bench/lossy_stream.py`` (``--variants after,novnc``), and the tables of both.

The outer run (``bench.lossy_stream``) builds the two namespaces for a loss level and runs
this module's ``--inner`` in ``clinic`` beside our agent's, in turn, over the one link: an
Xvfb with the glass scrolling its chart text at ``--speed`` px/s, x11vnc on it (loopback),
websockify and the receiver page on the clinic's address (``bench/stacks.py`` starts them as
for the other side-by-side benches), and Chromium in ``home`` with noVNC's RFB client. So the
RFB stream crosses the link in TCP: a lost segment holds back everything behind it until it
is retransmitted (head-of-line blocking), where our RTP carries on and repairs or skips.

What a person sees is read the same way on both sides: the glass's code in every picture
(noVNC: its canvas after each flip; ours: each decoded frame), a code seen for the first
time being a new picture (``stream_figures.picture_figures``); the bitrate is what crossed
the link from clinic to home, IP packets, as the emulator counted them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

from bench import stacks
from bench.link_runs import CLINIC_ADDR
from bench.lossy_stream import CHROMIUM, parser, write_ready
from bench.stream_figures import picture_figures
from devkit.netns import netns_wrapper

# Loading noVNC's modules and the first full screen over TCP at 10 % loss takes a while.
READY_TIMEOUT_S: Final = 120.0
WARMUP_S: Final = 2.0
STACKS: Final = {
    "before": "Mamori (before)",
    "after": "Mamori",
    "fec": "Mamori, FEC on",
    "nofec": "Mamori, FEC off",
    "novnc": "x11vnc + noVNC",
    "canvas": "Mamori, canvas video path",
}


async def inner(args: argparse.Namespace) -> dict[str, Any]:
    """Inside the clinic namespace: Xvfb, glass, x11vnc, websockify; Chromium in home."""
    from bench.glass_process import Glass
    from devkit.display import start_xvfb

    tmp = Path(tempfile.mkdtemp(prefix="mamori-lossy-novnc-"))
    try:
        with ExitStack() as stack:
            display = stack.enter_context(start_xvfb(1280, 720))
            log = stack.enter_context(open(args.agent_log or tmp / "vnc.log", "ab"))
            glass = await Glass.start(display, tmp / "paints.txt")
            try:
                executable = str(netns_wrapper(args.home_netns, CHROMIUM, tmp))
                async with stacks.novnc(
                    display.name, tmp, log, CLINIC_ADDR, executable, READY_TIMEOUT_S
                ) as receiver:
                    result = await _watch(args, receiver, glass)
            finally:
                # Stopped first: the glass's log is complete only once it has quit.
                paints = glass.stop()
        raw = result.pop("raw")
        return {**picture_figures(raw["decoded"], paints, raw["start"], raw["end"]), **result}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _watch(args: argparse.Namespace, receiver: stacks.Receiver, glass: Any) -> dict[str, Any]:
    page = receiver.page
    await glass.command(f"mode {args.mode or f'scroll{args.speed}'}", expect="ok mode")
    await asyncio.sleep(WARMUP_S)
    before = await receiver.transport_bytes()
    started, wall_start = time.monotonic(), time.time()
    if args.ready_file:  # the outer process reads the link's counters relative to this
        write_ready(args.ready_file, wall_start)
    await asyncio.sleep(args.seconds)
    elapsed = time.monotonic() - started
    after = await receiver.transport_bytes()
    probe = await page.evaluate("() => window.__probe.drain()")
    connected = await page.evaluate("() => document.body.dataset.connected ?? null")
    return {
        "raw": {
            "decoded": [(int(c), float(t)) for c, t in probe["decoded"]],
            "start": wall_start,
            "end": wall_start + elapsed,
        },
        "variant": "novnc",
        "seconds": round(elapsed, 1),
        # What noVNC received inside the WebSocket (RFB bytes), beside the link's figure.
        "ws_kbit_s": round((after["wsBytes"] - before["wsBytes"]) * 8 / elapsed / 1000),
        "flips": probe["pictures"],
        "unreadable": probe["unreadable"],
        "connected": connected,
        "errors": probe["errors"],
    }


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def side_by_side(rows: list[dict[str, Any]]) -> str:
    """What a person sees, one line per stack and loss level (markdown)."""
    lines = [
        "| loss | stack | new pictures/s | longest freeze | freezes > 1 s "
        "| glass-to-glass p50 / p90 (ms) | kbit/s on the link | packets lost on the link |",
        "|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['loss'] * 100:.0f} % | {STACKS[r['variant']]} | {r['new_per_s']} "
            f"| {r['longest_still_s']:.1f} s | {r['still_over_1s']} "
            f"| {_ms(r['latency_p50_ms'])} / {_ms(r['latency_p90_ms'])} "
            f"| {_ms(r['link_kbit_s'])} | {_ms(r['link_lost'])} |"
        )
    return "\n".join(lines)


def webrtc_table(rows: list[dict[str, Any]]) -> str:
    """Our stacks' figures from Chromium's inbound-rtp stats (markdown)."""
    lines = [
        "| loss | agent | fps decoded / presented | longest gap, gaps > 1 s | Chromium freezes "
        "(s) | NACK / PLI | lost / received | keyframes decoded |",
        "|---:|---|---|---|---|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['loss'] * 100:.0f} % | {r['variant']} | {r['fps']} / {r['presented_fps']} | "
            f"{r['longest_gap_ms']} ms, {r['gaps_over_1s']} | {r['freezes']} ({r['freeze_s']} s) "
            f"| {r['nacks']} / {r['plis']} | {r['lost']} / {r['received']} "
            f"| {r['keyframes_decoded']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.inner:
        print("run bench.lossy_stream --variants after,novnc", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(inner(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
