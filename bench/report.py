"""Medians over runs, ratios ours/noVNC, the issue's targets, a Markdown table and a plot."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import metrics

MODES = ("static", "typing", "scrolling", "image")
SETTLE_TARGET_MS = 500
PSNR_TARGET_DB = 45.0

# (key in a window summary, label, unit, digits)
FIGURES: list[tuple[str, str, str, int]] = [
    ("latency_median_ms", "glass-to-glass latency after decode, median", "ms", 1),
    ("latency_p90_ms", "glass-to-glass latency after decode, p90", "ms", 1),
    # ours: rVFC expectedDisplayTime; noVNC: the animation frame after the flip, when it ran
    ("display_median_ms", "glass-to-display latency, median", "ms", 1),
    ("display_p90_ms", "glass-to-display latency, p90", "ms", 1),
    # like for like: the callback argument of rVFC (ours) and rAF (noVNC)
    ("frame_median_ms", "glass to the frame showing it (rVFC / rAF time), median", "ms", 1),
    ("new_pictures_per_s", "new pictures per second", "fps", 1),
    ("wire_kbit_s", "bitrate on the wire", "kbit/s", 1),
    ("payload_kbit_s", "bitrate, payload only", "kbit/s", 1),
    ("cpu_server", "server CPU (agent | x11vnc + websockify)", "% of a core", 1),
    ("cpu_browser", "browser CPU (all Chromium processes)", "% of a core", 1),
    ("cpu_glass", "glass + Xvfb CPU (shared, for context)", "% of a core", 1),
]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _window_value(window: dict[str, Any], key: str) -> float | None:
    cpu: dict[str, Any] = window.get("cpu_percent", {})
    if key == "cpu_server":
        return _number(cpu.get("server"))
    if key == "cpu_browser":
        return _number(cpu.get("browser"))
    if key == "cpu_glass":
        return float(cpu.get("glass", 0.0) + cpu.get("xvfb", 0.0))
    return _number(window.get(key))


def _windows(system_runs: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    return [w for run in system_runs for w in run["windows"] if w["mode"] == mode]


def _settle_point(run: dict[str, Any], planned_ms: int) -> dict[str, Any] | None:
    settle = run.get("settle")
    if not settle:
        return None
    for point in settle["points"]:
        if point["planned_ms"] == planned_ms:
            return dict(point)
    return None


def _psnr(value: Any) -> float:
    return math.inf if value == "inf" else float(value)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Medians over runs of every figure, per system and mode, and the targets."""
    systems = ("ours", "novnc", "canvas")  # canvas: ours' canvas video path (--canvas)
    runs = {s: [pair[s] for pair in result["pairs"] if s in pair] for s in systems}
    runs = {s: r for s, r in runs.items() if r or s != "canvas"}
    modes: dict[str, Any] = {}
    for mode in MODES:
        entry: dict[str, Any] = {}
        for system, system_runs in runs.items():
            windows = _windows(system_runs, mode)
            entry[system] = {
                key: metrics.median([_window_value(w, key) for w in windows]) for key, *_ in FIGURES
            }
        entry["ratio"] = {
            key: _ratio(entry["ours"][key], entry["novnc"][key]) for key, *_ in FIGURES
        }
        modes[mode] = entry
    settle: dict[str, Any] = {}
    for system, system_runs in runs.items():
        per_offset: dict[int, dict[str, float | None]] = {}
        offsets = sorted(
            {
                p["planned_ms"]
                for r in system_runs
                for p in (r.get("settle") or {}).get("points", [])
            }
        )
        for planned in offsets:
            points = [_settle_point(r, planned) for r in system_runs]
            per_offset[planned] = {
                "after_ms": metrics.median([p["after_ms"] for p in points if p]),
                "psnr_db": metrics.median([_psnr(p["psnr_db"]) for p in points if p]),
                "ssim": metrics.median([p["ssim"] for p in points if p]),
            }
        settle[system] = per_offset
    extras = {}
    for name in ("ours_30fps", "ours_1080p"):
        windows = [w for run in result.get(name, []) for w in run["windows"]]
        fps = [w["new_pictures_per_s"] for w in windows]
        extras[name] = {
            "fps_median": metrics.median(fps),
            "fps_min": min(fps) if fps else None,
            "agent_cpu_median": metrics.median([_window_value(w, "cpu_server") for w in windows]),
            "browser_cpu_median": metrics.median(
                [_window_value(w, "cpu_browser") for w in windows]
            ),
            "glass_cpu_median": metrics.median([_window_value(w, "cpu_glass") for w in windows]),
            "latency_median_ms": metrics.median([w["latency_median_ms"] for w in windows]),
            "wire_kbit_s_median": metrics.median([w["wire_kbit_s"] for w in windows]),
        }
    summary: dict[str, Any] = {"modes": modes, "settle": settle, "extras": extras}
    summary["targets"] = targets(summary)
    return summary


def _ratio(ours: float | None, novnc: float | None) -> float | None:
    if ours is None or novnc is None or novnc == 0 or math.isinf(novnc):
        return None
    return ours / novnc


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's target table, each with the measured value and met/missed."""
    modes = summary["modes"]

    def ratio_target(figure: str, mode: str, key: str, limit: float, unit: str) -> dict[str, Any]:
        ours, novnc = modes[mode]["ours"][key], modes[mode]["novnc"][key]
        ratio = modes[mode]["ratio"][key]
        return {
            "figure": figure,
            "target": f"≤ {limit:g} × noVNC's",
            "value": f"{_fmt(ours)} vs {_fmt(novnc)} {unit} ({_fmt(ratio, 2)} ×)",
            "met": None if ratio is None else ratio <= limit,
        }

    settle_500 = summary["settle"].get("ours", {}).get(SETTLE_TARGET_MS, {})
    psnr_500 = settle_500.get("psnr_db")
    cpu30 = summary["extras"]["ours_30fps"]["agent_cpu_median"]
    fps1080 = summary["extras"]["ours_1080p"]["fps_median"]
    fps1080_min = summary["extras"]["ours_1080p"]["fps_min"]
    return [
        ratio_target(
            "glass-to-glass latency, typing, after decode",
            "typing",
            "latency_median_ms",
            0.75,
            "ms",
        ),
        ratio_target(
            "glass-to-glass latency, scrolling", "scrolling", "latency_median_ms", 0.75, "ms"
        ),
        ratio_target("glass-to-display latency, typing", "typing", "display_median_ms", 0.6, "ms"),
        ratio_target("bitrate, static screen", "static", "wire_kbit_s", 1.0, "kbit/s"),
        ratio_target("bitrate, scrolling", "scrolling", "wire_kbit_s", 0.5, "kbit/s"),
        {
            "figure": "settled text PSNR",
            "target": f"≥ {PSNR_TARGET_DB:g} dB within {SETTLE_TARGET_MS} ms of settling",
            "value": f"{_fmt(psnr_500)} dB at +{SETTLE_TARGET_MS} ms",
            "met": None if psnr_500 is None else psnr_500 >= PSNR_TARGET_DB,
        },
        {
            "figure": "agent CPU, scrolling at 30 fps",
            "target": "≤ 60 % of one core",
            "value": f"{_fmt(cpu30)} %",
            "met": None if cpu30 is None else cpu30 <= 60,
        },
        {
            "figure": "1920×1080, scrolling",
            "target": "≥ 30 fps sustained",
            "value": f"{_fmt(fps1080)} fps (lowest run {_fmt(fps1080_min)})",
            "met": None if fps1080_min is None else fps1080_min >= 30,
        },
    ]


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return "∞ (lossless)"
    return f"{value:.{digits}f}"


def markdown(result: dict[str, Any], summary: dict[str, Any]) -> str:
    v = result["versions"]
    lines = [
        f"Measured {result['date']} with `{result['command']}`: {result['runs']} runs of each "
        f"stack, {result['window_s']:g} s per mode, medians over runs "
        f"({v['cpus']} CPUs, {v['chromium']}, x11vnc {v['x11vnc']}, websockify "
        f"{v['websockify']}, noVNC {v['novnc']}; {result['elapsed_s']:.0f} s in all).",
        "",
        "| figure | mode | ours | noVNC | ours/noVNC |",
        "|---|---|---:|---:|---:|",
    ]
    for key, label, unit, digits in FIGURES:
        for mode in MODES:
            entry = summary["modes"][mode]
            lines.append(
                f"| {label} ({unit}) | {mode} | {_fmt(entry['ours'][key], digits)} | "
                f"{_fmt(entry['novnc'][key], digits)} | {_fmt(entry['ratio'][key], 2)} |"
            )
    lines += [
        "",
        "| settled text (after the page stops scrolling) | ours | noVNC |",
        "|---|---:|---:|",
    ]
    offsets = sorted(
        set(summary["settle"].get("ours", {})) | set(summary["settle"].get("novnc", {}))
    )
    for planned in offsets:
        o = summary["settle"].get("ours", {}).get(planned, {})
        n = summary["settle"].get("novnc", {}).get(planned, {})
        lines.append(
            f"| PSNR / SSIM at +{planned} ms | {_fmt(o.get('psnr_db'))} dB / "
            f"{_fmt(o.get('ssim'), 4)} | {_fmt(n.get('psnr_db'))} dB / {_fmt(n.get('ssim'), 4)} |"
        )
    e30, e1080 = summary["extras"]["ours_30fps"], summary["extras"]["ours_1080p"]
    lines += [
        "",
        "| ours alone, scrolling | fps | agent CPU | browser CPU | glass + Xvfb CPU | latency "
        "| bitrate |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| 1280×720, capped at 30 fps | {_fmt(e30['fps_median'])} | "
        f"{_fmt(e30['agent_cpu_median'])} % | {_fmt(e30['browser_cpu_median'])} % | "
        f"{_fmt(e30['glass_cpu_median'])} % | {_fmt(e30['latency_median_ms'])} ms | "
        f"{_fmt(e30['wire_kbit_s_median'])} kbit/s |",
        f"| 1920×1080, capped at 60 fps | {_fmt(e1080['fps_median'])} (lowest "
        f"{_fmt(e1080['fps_min'])}) | {_fmt(e1080['agent_cpu_median'])} % | "
        f"{_fmt(e1080['browser_cpu_median'])} % | {_fmt(e1080['glass_cpu_median'])} % | "
        f"{_fmt(e1080['latency_median_ms'])} ms | {_fmt(e1080['wire_kbit_s_median'])} kbit/s |",
        "",
        "| target | wanted | measured | met |",
        "|---|---|---|---|",
    ]
    for t in summary["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['figure']} | {t['target']} | {t['value']} | {met} |")
    if "canvas" in summary["modes"][MODES[0]]:
        lines += ["", *canvas_table(summary)]
    return "\n".join(lines) + "\n"


# The figures that tell the canvas video path from the <video> (--canvas).
CANVAS_FIGURES = ("latency_median_ms", "display_median_ms", "display_p90_ms", "frame_median_ms",
                  "new_pictures_per_s", "cpu_browser")  # fmt: skip


def canvas_table(summary: dict[str, Any]) -> list[str]:
    """Ours through the <video> against ours through the canvas path, noVNC beside them. At
    display: rVFC expectedDisplayTime for the <video>, the animation frame after the draw for
    both canvases."""
    lines = [
        "| figure | mode | ours, <video> | ours, canvas | noVNC | canvas/<video> |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, label, unit, digits in FIGURES:
        if key not in CANVAS_FIGURES:
            continue
        for mode in MODES:
            entry = summary["modes"][mode]
            video, canvas = entry["ours"][key], entry["canvas"][key]
            lines.append(
                f"| {label} ({unit}) | {mode} | {_fmt(video, digits)} | {_fmt(canvas, digits)} | "
                f"{_fmt(entry['novnc'][key], digits)} | {_fmt(_ratio(canvas, video), 2)} |"
            )
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    """Latency distributions (CDFs, all runs pooled) per mode, ours against noVNC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MODES), figsize=(4 * len(MODES), 3.4), sharey=True)
    colours = {"ours": "#00594f", "novnc": "#b4462b"}
    pooled: Callable[[str, str], list[float]] = lambda system, mode: sorted(  # noqa: E731
        v
        for pair in result["pairs"]
        for w in pair.get(system, {}).get("windows", [])
        if w["mode"] == mode
        for v in w["latency_ms"]
    )
    for ax, mode in zip(axes, MODES, strict=True):
        for system in ("ours", "novnc"):
            values = pooled(system, mode)
            if not values:
                continue
            ys = [(i + 1) / len(values) for i in range(len(values))]
            name = "ours" if system == "ours" else "noVNC"
            label = f"{name} (median {metrics.median(values):.0f} ms)"
            ax.step(values, ys, where="post", color=colours[system], label=label)
        ax.set_title(mode)
        ax.set_xlabel("glass-to-glass latency (ms)")
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("fraction of pictures")
    fig.suptitle(f"Latency distributions, {result['runs']} runs pooled ({result['date']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
