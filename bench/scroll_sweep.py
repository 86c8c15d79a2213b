"""Scrolling at several speeds, and other moving contents: ours with the watermark on and
off, and x11vnc + noVNC.

    .venv/bin/python -m bench.scroll_sweep [--runs 3] [--window 6] [--speeds 100,400,1000,2000]
        [--contents pages2,pan400,xray400] [--size 1280x720] [--out bench/results/scroll]

Each run starts one Xvfb and measures the three stacks in turn on it (the order rotates
between runs, so drift in the machine's load favours none), each through the glass's
``scroll<N>`` modes (the text page scrolls at N px/s) and then the ``--contents`` modes
(page switches, a panning photo and radiograph: ``bench/glass_content.py``). Per window:
new pictures per second (distinct frame codes seen by the receiver), glass-to-glass latency
after decode and at display (p50, p90; ``bench/at_display.py``) and the payload bitrate, as
in ``bench/compare.py``.

Writes ``sweep.json`` (every run) and ``sweep.md`` (medians over runs, and the ratios the
issue asks for: watermark on/off bitrate <= 1.2, frame rate >= 0.9; ours/noVNC bitrate
<= 0.5; >= 30 fps) into ``--out``. The machine is shared: absolute figures under load are
noisy, the ratios from one run are the figures to trust.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from bench import metrics
from bench.compare import measure_system
from bench.glass_content import is_rate_mode, scroll_speed
from devkit.broker import make_certs
from devkit.display import start_xvfb

STACKS: Final = (("ours", True), ("ours", False), ("novnc", True))
LABELS: Final = {("ours", True): "ours_marked", ("ours", False): "ours_unmarked",
                 ("novnc", True): "novnc"}  # fmt: skip


def label(system: str, watermark: bool) -> str:
    return LABELS[(system, watermark)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="mamori-sweep-"))
    try:
        certs = make_certs(tmp / "certs")
        modes = sweep_modes(args.speeds, args.contents)
        runs: list[dict[str, Any]] = []
        width, height = args.size
        for i in range(args.runs):
            order = STACKS[i % 3 :] + STACKS[: i % 3]
            one: dict[str, Any] = {}
            with start_xvfb(width, height) as display:
                for system, mark in order:
                    print(f"run {i + 1}/{args.runs}: {label(system, mark)}", file=sys.stderr,
                          flush=True)  # fmt: skip
                    one[label(system, mark)] = await measure_system(
                        system, display, tmp, certs, modes, args.window, settle=False,
                        watermark=mark,
                    )  # fmt: skip
            runs.append(one)
    except BaseException:
        print(f"bench.scroll_sweep: failed; logs are in {tmp}", file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "size": list(args.size),
        "speeds": list(args.speeds),
        "modes": list(sweep_modes(args.speeds, args.contents)),
        "window_s": args.window,
        "runs": runs,
    }


def sweep_modes(speeds: list[int], contents: list[str]) -> tuple[str, ...]:
    """The glass modes a sweep measures: a text scroll per speed, then the other contents."""
    return tuple(f"scroll{s}" for s in speeds) + tuple(contents)


def row_name(mode: str) -> str:
    """A scroll's row is its speed (px/s); another content's, its mode."""
    speed = scroll_speed(mode)
    return str(speed) if speed is not None else mode


def summarize(result: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """row -> stack -> median over runs of fps, kbit/s, latency p50/p90, and ratios."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    modes = result.get("modes") or [f"scroll{s}" for s in result["speeds"]]
    for mode in modes:
        per: dict[str, dict[str, float | None]] = {}
        for name in LABELS.values():
            windows = [
                w
                for run in result["runs"]
                if name in run
                for w in run[name]["windows"]
                if w["mode"] == mode
            ]
            per[name] = {
                "fps": metrics.median([w["new_pictures_per_s"] for w in windows]),
                "kbit_s": metrics.median([w["payload_kbit_s"] for w in windows]),
                "p50_ms": metrics.median([w["latency_median_ms"] for w in windows]),
                "p90_ms": metrics.median([w["latency_p90_ms"] for w in windows]),
                "display_p50_ms": metrics.median([w.get("display_median_ms") for w in windows]),
                "display_p90_ms": metrics.median([w.get("display_p90_ms") for w in windows]),
            }
        ratios: dict[str, float | None] = {}
        ratios["mark_kbit_ratio"] = _median_ratio(result, mode, "ours_marked", "ours_unmarked",
                                                  "payload_kbit_s")  # fmt: skip
        ratios["mark_fps_ratio"] = _median_ratio(result, mode, "ours_marked", "ours_unmarked",
                                                 "new_pictures_per_s")  # fmt: skip
        ratios["novnc_kbit_ratio"] = _median_ratio(result, mode, "ours_marked", "novnc",
                                                   "payload_kbit_s")  # fmt: skip
        ratios["novnc_fps_ratio"] = _median_ratio(result, mode, "ours_marked", "novnc",
                                                  "new_pictures_per_s")  # fmt: skip
        per["ratios"] = ratios
        out[row_name(mode)] = per
    return out


def _median_ratio(result: dict[str, Any], mode: str, a: str, b: str, key: str) -> float | None:
    """Median over runs of a/b, each ratio taken within one run (same load)."""
    values: list[float | None] = []
    for run in result["runs"]:
        if a not in run or b not in run:
            continue
        wa = next(w for w in run[a]["windows"] if w["mode"] == mode)
        wb = next(w for w in run[b]["windows"] if w["mode"] == mode)
        values.append(wa[key] / wb[key] if wb[key] else None)
    return metrics.median(values)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(result: dict[str, Any], summary: dict[str, Any]) -> str:
    w, h = result["size"]
    lines = [
        f"Scroll sweep {w}x{h}, {len(result['runs'])} runs x {result['window_s']} s "
        f"({result['date']}); medians over runs.",
        "",
        "| px/s or content | stack | fps | kbit/s | after decode p50 / p90 ms "
        "| at display p50 / p90 ms |",
        "|---:|---|---:|---:|---|---|",
    ]
    for speed, per in summary.items():
        for name in LABELS.values():
            f = per[name]
            lines.append(
                f"| {speed} | {name} | {_fmt(f['fps'])} | {_fmt(f['kbit_s'], 0)} | "
                f"{_fmt(f['p50_ms'], 0)} / {_fmt(f['p90_ms'], 0)} | "
                f"{_fmt(f['display_p50_ms'], 0)} / {_fmt(f['display_p90_ms'], 0)} |"
            )
    lines += [
        "",
        "Ratios (median of per-run ratios; targets: mark bitrate <= 1.2, mark fps >= 0.9, "
        "bitrate vs noVNC <= 0.5):",
        "",
        "| px/s or content | marked/unmarked kbit | marked/unmarked fps | ours/noVNC kbit "
        "| ours/noVNC fps |",
        "|---:|---:|---:|---:|---:|",
    ]
    for speed, per in summary.items():
        r = per["ratios"]
        lines.append(
            f"| {speed} | {_fmt(r['mark_kbit_ratio'], 2)} | {_fmt(r['mark_fps_ratio'], 2)} | "
            f"{_fmt(r['novnc_kbit_ratio'], 2)} | {_fmt(r['novnc_fps_ratio'], 2)} |"
        )
    return "\n".join(lines) + "\n"


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scroll_sweep", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=6.0)
    parser.add_argument(
        "--speeds", type=lambda t: [int(s) for s in t.split(",")], default=[100, 400, 1000, 2000]
    )
    parser.add_argument(
        "--contents",
        type=lambda t: [m for m in t.split(",") if m],
        default=["pages2", "pan400", "xray400"],
        help="other glass modes after the scrolls (bench/glass_content.py), '' for none",
    )
    parser.add_argument("--size", type=_size, default=(1280, 720))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "scroll"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.window <= 0 or not all(100 <= s <= 5000 for s in args.speeds):
        parser.error("--runs >= 1, --window > 0, speeds 100..5000")
    if not all(is_rate_mode(m) for m in args.contents):
        parser.error("--contents: modes like pages2, pan400, xray1000 (bench/glass_content.py)")
    result = asyncio.run(run(args))
    summary = summarize(result)
    result["summary"] = summary
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    text = markdown(result, summary)
    (args.out / "sweep.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
