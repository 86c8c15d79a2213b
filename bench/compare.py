"""Ours against x11vnc + websockify + noVNC, side by side on one virtual display.

    .venv/bin/python -m bench.compare [--runs 5] [--window 6] [--out bench/results]

Each run starts the glass (``bench/glass.py``) on a 1280x720 Xvfb and measures both stacks in
turn (the order alternates between runs, so drift in the machine's load does not favour one),
each through the glass's modes static, typing, scrolling and image, then a settle test: the
page scrolls, stops at a planned instant, and the receiver grabs the text region at fixed
delays after it for PSNR/SSIM against the source pixels. Ours alone then runs scrolling at
30 fps (the CPU target) and on a 1920x1080 display (the 1080p target).

Writes ``results.json`` (every run's figures and the latency samples), ``results.md`` (medians
over runs, ratios ours/noVNC, targets) and ``latency.png`` (latency distributions) into
``--out``. See the README's Performance section for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import mss
import numpy as np

from bench import at_display, metrics, procstat, report, stacks
from bench.glass_process import Glass
from certs.authority import ServerFiles
from devkit.broker import make_certs
from devkit.display import XvfbDisplay, start_xvfb

MODES: Final = ("static", "typing", "scrolling", "image")
WARMUP_S: Final = 1.5
SETTLE_OFFSETS_S: Final = (0.1, 0.25, 0.5, 1.0, 2.0)
# IPv4 + UDP headers per datagram; IPv4 + TCP (with timestamps) per segment of a typical
# 1448-byte MSS path: loopback's 64 KiB segments would flatter TCP.
UDP_IP_BYTES: Final = 28
TCP_IP_BYTES: Final = 52
TCP_MSS: Final = 1448
DEFAULT_FPS: Final = 60


@dataclass
class Window:
    """What one measurement window recorded, before the glass log is joined in."""

    mode: str
    start: float
    end: float
    decoded: list[tuple[int, float, float]]  # (code, wall ms, key joining it to `shown`)
    shown: list[list[float]]  # what reached the screen (bench/at_display.py)
    pictures: int
    bytes_payload: float
    bytes_wire: float
    cpu: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


async def _transport(receiver: stacks.Receiver) -> dict[str, float]:
    return await receiver.transport_bytes()


def _bytes(system: str, before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """(payload, wire) bytes between two transport readings."""
    if system == "novnc":
        payload = after["wsBytes"] - before["wsBytes"]
        framed = after["wsWireBytes"] - before["wsWireBytes"]
        segments = after["wsSegments"] - before["wsSegments"]
        return payload, framed + TCP_IP_BYTES * segments
    payload = after["pairBytes"] - before["pairBytes"]
    packets = after["pairPackets"] - before["pairPackets"]
    return payload, payload + UDP_IP_BYTES * packets


async def measure_window(
    system: str,
    receiver: stacks.Receiver,
    glass: Glass,
    display: XvfbDisplay,
    mode: str,
    seconds: float,
) -> Window:
    await glass.command(f"mode {mode}", expect="ok mode")
    await asyncio.sleep(WARMUP_S)
    page = receiver.page
    await page.evaluate("() => window.__probe.drain()")
    # The glass and the X server are shared by both stacks; measured for context.
    groups = {**receiver.cpu_groups(), "glass": [glass.proc.pid], "xvfb": [display.process.pid]}
    cpu = procstat.CpuWindow(groups)
    before = await _transport(receiver)
    pictures_before = await page.evaluate("() => window.__probe.state.pictures")
    cpu.start()
    start = time.time()
    await asyncio.sleep(seconds)
    end = time.time()
    usage = cpu.stop()
    after = await _transport(receiver)
    data = await page.evaluate("() => window.__probe.drain()")
    payload, wire = _bytes(system, before, after)
    extra: dict[str, Any] = {
        k: after[k] for k in ("keyFramesDecoded", "nackCount", "pliCount") if k in after
    }
    if data["stages"]:  # the canvas path: where its time goes
        extra["decode_median_ms"] = metrics.median([row[0] for row in data["stages"]])
        extra["to_draw_median_ms"] = metrics.median([row[1] for row in data["stages"]])
    return Window(
        mode=mode,
        start=start,
        end=end,
        decoded=[(int(c), float(t), float(k)) for c, t, k in data["decoded"]],
        shown=[[float(v) for v in row] for row in data["shown"]],
        pictures=int(data["pictures"]) - int(pictures_before),
        bytes_payload=payload,
        bytes_wire=wire,
        cpu=usage,
        extra=extra,
    )


async def settle_test(
    system: str, receiver: stacks.Receiver, glass: Glass, display: XvfbDisplay
) -> dict[str, Any]:
    """Scroll, stop at a planned instant, grab the text region at delays after it."""
    await glass.command("mode scrolling", expect="ok mode")
    await asyncio.sleep(2.0)
    stop_at = time.time() + 0.6
    box = glass.geometry["text_box"]
    await receiver.page.evaluate(
        "([kind, box, times]) => window.__probe.scheduleCaptures(kind, box, times)",
        [system, box, [(stop_at + o) * 1000 for o in SETTLE_OFFSETS_S]],
    )
    line = await glass.command(f"static_at {stop_at:.6f}", expect="settled ")
    settled = float(line.split()[1])
    await asyncio.sleep(max(0.0, stop_at + SETTLE_OFFSETS_S[-1] + 0.4 - time.time()))
    x, y, w, h = box
    with mss.MSS(display=display.name) as grabber:
        shot = grabber.grab({"left": x, "top": y, "width": w, "height": h})
    reference = np.frombuffer(shot.rgb, dtype=np.uint8).reshape(h, w, 3)
    data = await receiver.page.evaluate("() => window.__probe.drain()")
    points = []
    for capture in sorted(data["captures"], key=lambda c: c["at"]):
        rgba = np.frombuffer(base64.b64decode(capture["rgba"]), dtype=np.uint8)
        picture = rgba.reshape(h, w, 4)[..., :3]
        psnr = metrics.psnr(reference, picture)
        points.append(
            {
                "planned_ms": round(capture["planned"] - stop_at * 1000),
                "after_ms": round(capture["at"] - settled * 1000, 1),
                "psnr_db": psnr,
                "ssim": round(metrics.ssim(reference, picture), 5),
            }
        )
    return {"settled_at": settled, "points": points}


def display_figures(system: str, window: Window, paints: metrics.Paints) -> dict[str, Any]:
    """Glass-to-display latency: ours at rVFC's expectedDisplayTime (when the compositor
    expects the frame visible: the figure a person sees; presentationTime is only the
    hand-over to the compositor), noVNC when the animation frame after the flip runs (its
    canvas is painted in that frame; still before the screen shows it). Beside them the
    like-for-like frame times (rVFC's and rAF's callback argument) and, for ours, the
    other rVFC times and their lead over decode (a check on headless Chromium's timing)."""
    span = (window.start, window.end)
    if system in ("novnc", "canvas"):  # both draw on a canvas, measured alike
        shown = at_display.novnc_shown(window.decoded, window.shown, at_display.FRAME_RAN)
        latencies = metrics.latencies_ms(shown, paints, span)
        framed = at_display.novnc_shown(window.decoded, window.shown, at_display.FRAME_TIME)
        return {
            "display_ms": latencies,
            "display_median_ms": metrics.median(latencies),
            "display_p90_ms": metrics.percentile(latencies, 0.9),
            "frame_median_ms": metrics.median(metrics.latencies_ms(framed, paints, span)),
        }
    out: dict[str, Any] = {}
    for column, name in at_display.COLUMNS.items():
        shown = at_display.ours_shown(window.decoded, window.shown, column)
        latencies = metrics.latencies_ms(shown, paints, span)
        if column == at_display.EXPECTED:
            out["display_ms"] = latencies
            out["display_median_ms"] = metrics.median(latencies)
            out["display_p90_ms"] = metrics.percentile(latencies, 0.9)
        elif column == at_display.CALLBACK:
            out["frame_median_ms"] = metrics.median(latencies)
        else:
            out[f"{name}_median_ms"] = metrics.median(latencies)
    lead = at_display.ours_lead_ms(window.decoded, window.shown)
    out["display_lead_ms"] = {at_display.COLUMNS[c]: v for c, v in lead.items()}
    return out


def summarize_window(system: str, window: Window, paints: metrics.Paints) -> dict[str, Any]:
    seconds = window.end - window.start
    decoded = [(code, at) for code, at, _ in window.decoded]
    latencies = metrics.latencies_ms(decoded, paints, (window.start, window.end))
    return {
        "mode": window.mode,
        "seconds": round(seconds, 3),
        "latency_ms": latencies,
        "latency_median_ms": metrics.median(latencies),
        "latency_p90_ms": metrics.percentile(latencies, 0.9),
        **display_figures(system, window, paints),
        "new_pictures_per_s": round(len(latencies) / seconds, 1),
        "pictures_per_s": round(window.pictures / seconds, 1),
        "payload_kbit_s": round(window.bytes_payload * 8 / seconds / 1000, 1),
        "wire_kbit_s": round(window.bytes_wire * 8 / seconds / 1000, 1),
        "cpu_percent": window.cpu,
        **window.extra,
    }


async def measure_system(
    system: str,
    display: XvfbDisplay,
    tmp: Path,
    certs: ServerFiles,
    modes: tuple[str, ...],
    seconds: float,
    fps: int = DEFAULT_FPS,
    settle: bool = True,
    watermark: bool = True,
) -> dict[str, Any]:
    """One system through the modes (and the settle test) with a fresh glass; ours with the
    watermark on (as shipped) unless ``watermark`` is False."""
    log = open(tmp / f"{system}.log", "ab")  # noqa: SIM115
    glass = await Glass.start(display, tmp / f"paints-{system}-{time.monotonic_ns()}.txt")
    windows: list[Window] = []
    settled: dict[str, Any] | None = None
    try:
        stack = (
            stacks.novnc(display.name, tmp, log)
            if system == "novnc"
            else stacks.ours(display.name, tmp, certs, fps, log, watermark, system == "canvas")
        )
        async with stack as receiver:
            await asyncio.sleep(1.0)
            await receiver.page.evaluate("() => window.__probe.recalibrate()")
            for mode in modes:
                windows.append(
                    await measure_window(system, receiver, glass, display, mode, seconds)
                )
            if settle:
                settled = await settle_test(system, receiver, glass, display)
            errors = await receiver.page.evaluate("() => window.__probe.state.errors")
    finally:
        paints = glass.stop()
        log.close()
    return {
        "system": system,
        "fps_cap": fps if system != "novnc" else None,
        "watermark": watermark if system != "novnc" else None,
        "screen": [display.width, display.height],
        "windows": [summarize_window(system, w, paints) for w in windows],
        "settle": settled,
        "probe_errors": errors,
    }


def _versions() -> dict[str, str]:
    def first_line(args: list[str]) -> str:
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return (
            (out.stdout or out.stderr).strip().splitlines()[0]
            if (out.stdout or out.stderr)
            else "?"
        )

    def deb(pkg: str) -> str:
        return first_line(["dpkg-query", "-W", "-f=${Version}", pkg])

    return {
        "chromium": first_line([stacks.CHROMIUM, "--version"]),
        "x11vnc": deb("x11vnc"),
        "websockify": deb("websockify"),
        "novnc": deb("novnc"),
        "python": platform.python_version(),
        "cpus": str(len(os.sched_getaffinity(0))),
        "kernel": platform.release(),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every run; the scratch directory (certificates, logs, paint logs) is removed after a
    clean finish and kept, with its path printed, after a failure."""
    tmp = Path(tempfile.mkdtemp(prefix="mamori-compare-"))
    try:
        result = await _run(args, tmp)
    except BaseException:
        print(f"bench.compare: failed; logs are in {tmp}", file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return result


async def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    certs = make_certs(tmp / "certs")
    started = time.monotonic()
    result: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.compare", *sys.argv[1:]]),
        "runs": args.runs,
        "window_s": args.window,
        "watermark": args.watermark,
        "versions": _versions(),
        "pairs": [],
        "ours_30fps": [],
        "ours_1080p": [],
    }
    for i in range(args.runs):
        # With --canvas, the viewer's canvas path too; the order rotates between runs.
        canvas = args.canvas or "canvas" in (args.only or ())
        systems = ("ours", "novnc", "canvas") if canvas else ("ours", "novnc")
        order = systems[i % len(systems) :] + systems[: i % len(systems)]
        order = tuple(s for s in order if args.only is None or s in args.only)
        pair: dict[str, Any] = {}
        with start_xvfb(1280, 720) as display:
            for system in order:
                print(f"run {i + 1}/{args.runs}: {system}", file=sys.stderr, flush=True)
                pair[system] = await measure_system(
                    system, display, tmp, certs, MODES, args.window,
                    watermark=args.watermark == "on",
                )  # fmt: skip
            if not args.skip_extras:
                print(f"run {i + 1}/{args.runs}: ours at 30 fps", file=sys.stderr, flush=True)
                result["ours_30fps"].append(
                    await measure_system(
                        "ours", display, tmp, certs, ("scrolling",), args.window, fps=30,
                        settle=False,
                    )
                )  # fmt: skip
        result["pairs"].append(pair)
        if not args.skip_extras:
            with start_xvfb(1920, 1080) as display:
                print(f"run {i + 1}/{args.runs}: ours at 1920x1080", file=sys.stderr, flush=True)
                result["ours_1080p"].append(
                    await measure_system(
                        "ours", display, tmp, certs, ("scrolling",), args.window, settle=False
                    )
                )
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.compare", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each system (default 5)")
    parser.add_argument("--window", type=float, default=6.0, help="seconds measured per mode")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument(
        "--skip-extras", action="store_true", help="no 30 fps CPU and 1080p runs of ours"
    )
    parser.add_argument(
        "--only", choices=("ours", "novnc", "canvas"), action="append", help="only these stacks"
    )
    parser.add_argument("--canvas", action="store_true", help="also ours' canvas video path")
    parser.add_argument(
        "--watermark",
        choices=("on", "off"),
        default="on",
        help="ours' watermark (default on, as shipped); the settle test's PSNR is against the "
        "unmarked screen, so with the mark on it measures the mark too",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or not math.isfinite(args.window) or args.window <= 0:
        parser.error("--runs must be >= 1 and --window > 0")
    result = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    summary = report.summarize(result)
    result["summary"] = summary
    (args.out / "results.json").write_text(
        json.dumps(_strict_json(result), indent=1, allow_nan=False), encoding="utf-8"
    )
    markdown = report.markdown(result, summary)
    (args.out / "results.md").write_text(markdown, encoding="utf-8")
    try:
        report.plot(result, args.out / "latency.png")
    except ModuleNotFoundError as missing:  # the tables are the result; the plot is extra
        print(f"bench.compare: no latency.png ({missing})", file=sys.stderr)
    print(markdown)
    return 0


def _strict_json(value: Any) -> Any:
    """JSON has no infinity: a lossless picture's PSNR is written as the string "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else None
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict_json(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
