"""What the privacy screen's capture costs: mss (the root window) against the composed
capture (each window's own pixels, ``host_agent/video/composed.py``), per grab.

    .venv/bin/python -m bench.composed_capture [--size 1280x720] [--grabs 30]

A private Xvfb with the sample EHR; the privacy screen is up for the composed grabs (what a
session with it does). A full grab is what a keyframe or a new monitor takes; a 256x64
grab is a typical damaged area (a few characters typed). Medians of ``--grabs`` grabs,
taken one configuration after another: milliseconds depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devkit.display import start_sample_app, start_xvfb
from host_agent.platform.x11.privacy import PrivacyScreen
from host_agent.video.capture import ScreenCapture
from host_agent.video.change_detection import Rect
from host_agent.video.composed import ComposedCapture
from host_agent.video.monitors import x11_monitors


def median_ms(grab: Callable[[], object], grabs: int) -> float:
    times = []
    for _ in range(grabs):
        started = time.perf_counter()
        grab()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--grabs", type=int, default=30)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    small = Rect(600, 200, 256, 64)
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_xvfb(width, height) as display,
        start_sample_app(display, Path(tmp) / "state.json"),
    ):
        region = x11_monitors(display.name)[0]
        plain = ScreenCapture(display.name, region)
        results["mss_full_ms"] = median_ms(plain.grab, args.grabs)
        results["mss_256x64_ms"] = median_ms(lambda: plain.grab(small), args.grabs)
        plain.close()
        screen = PrivacyScreen(display.name, "ベンチ")
        screen.lock()
        try:
            composed = ComposedCapture(display.name, region)
            results["composed_full_ms"] = median_ms(composed.grab, args.grabs)
            results["composed_256x64_ms"] = median_ms(lambda: composed.grab(small), args.grabs)
            composed.close()
        finally:
            screen.close()
    print(json.dumps({"size": args.size, "grabs": args.grabs, **results}))


if __name__ == "__main__":
    main()
