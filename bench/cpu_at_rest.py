"""CPU at rest: the agent against x11vnc + websockify on a screen where only a counter changes.

    .venv/bin/python -m bench.cpu_at_rest [--runs 3] [--window 30]

Each run starts a 1280x720 Xvfb with a sample window (a page of clinic text and a small
counter that changes once a second, nothing else moves) and measures both stacks in turn on
it (the order alternates between runs), each with its receiver connected in Chromium
(``bench/stacks.py``): the CPU of the server side (our agent process; x11vnc + websockify)
and, for information, of the browser, over ``--window`` seconds after a short warm-up.

Prints a Markdown table: medians over runs, the ratio ours / x11vnc+websockify (the target
is <= 2), and the machine's load average during the runs (the figures are relative: on a
loaded machine both sides pay the same scheduling costs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from bench import procstat, stacks
from devkit.broker import make_certs
from devkit.display import XvfbDisplay, start_xvfb

WARMUP_S: Final = 3.0
TARGET_RATIO: Final = 2.0
COUNTER_MS: Final = 1000


def counter_window() -> None:
    """The sample screen: a still page of text and a counter that ticks once a second."""
    import tkinter as tk

    from bench.glass_content import clinic_text

    root = tk.Tk()
    width, height = root.winfo_screenwidth(), root.winfo_screenheight()
    root.overrideredirect(True)
    root.geometry(f"{width}x{height}+0+0")
    root.configure(background="#ffffff")
    text = tk.Text(root, font=("DejaVu Sans", 10), wrap="none", borderwidth=0)
    text.insert("1.0", clinic_text(60))
    text.place(x=0, y=40, width=width, height=height - 40)
    counter = tk.Label(root, text="0", font=("DejaVu Sans Mono", 12), background="#ffffff")
    counter.place(x=8, y=8, width=80, height=24)
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        counter.configure(text=str(count))
        root.after(COUNTER_MS, tick)

    root.after(COUNTER_MS, tick)
    print("ready", flush=True)
    root.mainloop()


def start_counter(display: XvfbDisplay) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.cpu_at_rest", "--counter-window"],
        env=display.env(),
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"counter window did not start: {line!r}")
    return proc


async def measure(
    system: str, display: XvfbDisplay, tmp: Path, certs: Any, seconds: float
) -> dict[str, float]:
    with open(tmp / f"{system}.log", "ab") as log:
        stack = (
            stacks.ours(display.name, tmp, certs, 60, log)
            if system == "ours"
            else stacks.novnc(display.name, tmp, log)
        )
        async with stack as receiver:
            await asyncio.sleep(WARMUP_S)
            window = procstat.CpuWindow(receiver.cpu_groups())
            load_before = os.getloadavg()[0]
            window.start()
            await asyncio.sleep(seconds)
            cpu = window.stop()
            cpu["load"] = round((load_before + os.getloadavg()[0]) / 2, 1)
            return cpu


async def run(runs: int, seconds: float) -> list[dict[str, dict[str, float]]]:
    tmp = Path(tempfile.mkdtemp(prefix="mamori-cpu-at-rest-"))
    results = []
    try:
        certs = make_certs(tmp / "certs")
        for i in range(runs):
            order = ("ours", "novnc") if i % 2 == 0 else ("novnc", "ours")
            pair: dict[str, dict[str, float]] = {}
            with start_xvfb(1280, 720) as display:
                counter = start_counter(display)
                try:
                    for system in order:
                        print(f"run {i + 1}/{runs}: {system}", file=sys.stderr, flush=True)
                        pair[system] = await measure(system, display, tmp, certs, seconds)
                        print(f"  {pair[system]}", file=sys.stderr, flush=True)
                finally:
                    counter.kill()
                    counter.wait()
            results.append(pair)
    except BaseException:
        print(f"bench.cpu_at_rest: failed; logs are in {tmp}", file=sys.stderr)
        raise
    if os.environ.get("BENCH_KEEP_LOGS"):
        print(f"bench.cpu_at_rest: logs are in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def markdown(results: list[dict[str, dict[str, float]]], seconds: float) -> str:
    def median(system: str, key: str) -> float:
        return round(statistics.median(r[system][key] for r in results), 1)

    ours, theirs = median("ours", "server"), median("novnc", "server")
    ratio = ours / theirs if theirs > 0 else float("inf")
    # Within each run both stacks met the same load: the median of those ratios too.
    run_ratios = [
        r["ours"]["server"] / r["novnc"]["server"] if r["novnc"]["server"] > 0 else float("inf")
        for r in results
    ]
    loads = [r[s]["load"] for r in results for s in r]
    lines = [
        f"CPU at rest (counter changing once a second, 1280x720, {seconds:g} s windows, "
        f"median of {len(results)} runs, load average {min(loads):.1f}-{max(loads):.1f} "
        f"on {len(os.sched_getaffinity(0))} cores; % of one core)",
        "",
        "| | Mamori agent | x11vnc + websockify | ratio (target <= 2) |",
        "|---|---:|---:|---:|",
        f"| server side | {ours} % | {theirs} % | {ratio:.2f}x |",
        f"| browser | {median('ours', 'browser')} % | {median('novnc', 'browser')} % | |",
        "",
        f"Server-side ratio within each run: {', '.join(f'{r:.2f}x' for r in run_ratios)}"
        f" (median {statistics.median(run_ratios):.2f}x).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cpu_at_rest", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--counter-window", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.counter_window:
        counter_window()
        return 0
    if args.runs < 1 or args.window <= 0:
        parser.error("--runs must be >= 1 and --window > 0")
    started = time.monotonic()
    results = asyncio.run(run(args.runs, args.window))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(markdown(results, args.window))
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
