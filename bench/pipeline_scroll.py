"""The agent's encode pipeline alone on a scrolled page: bytes and CPU time per frame.

    .venv/bin/python -m bench.pipeline_scroll [--size 1280x720] [--frames 60]

No X server, no browser, no network: the glass's chart text (``bench/glass.py``) is rendered
once into a tall page and the pipeline (``screen_track._Pipeline``: scroll detection,
watermark, change detection, conversion, x264) captures it through a fake source that moves
the window down by a fixed number of rows per frame. Rows per frame = px/s divided by the
frame rate (2000 px/s at 30 fps is 67 rows). For each shift it reports the median bytes and
encode-thread milliseconds per frame with the watermark on and off, and with the motion
search fixed at ultrafast's own (``--fixed-search``: what the agent did before).

Bytes per frame are deterministic; milliseconds depend on the machine's load (the figures
are medians over ``--frames`` frames, measured one configuration after another).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from bench.glass import clinic_text
from host_agent.video import screen_track
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import Rect
from host_agent.video.fonts import font
from host_agent.video.motion_search import DEFAULT, MotionSearchPolicy, Search
from host_agent.video.scheduler import Plan
from host_agent.video.screen_track import Codec, _Pipeline
from host_agent.video.watermark import WatermarkIdentity

IDENTITY = WatermarkIdentity("山田 太郎", "u-1042", "さくら内科クリニック", "S" * 22)
SHIFTS = (3, 13, 33, 67)
BITRATE = 8_000_000


def page(width: int, height: int) -> npt.NDArray[np.uint8]:
    """The glass's chart text (10 pt-like, 18 px lines) on white, as BGRA."""
    lines = clinic_text(height // 18 + 1).splitlines()
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    face = font(14)
    for i, line in enumerate(lines):
        draw.text((8, i * 18), line, fill=(26, 31, 29), font=face)
    return np.ascontiguousarray(np.asarray(image.convert("RGBA"))[..., [2, 1, 0, 3]])


class PageSource:
    def __init__(self, pixels: npt.NDArray[np.uint8], width: int, height: int) -> None:
        self.pixels = pixels
        self.top = 0
        self.geometry = ScreenGeometry(0, 0, width, height)

    def grab(self, rect: Rect | None = None) -> npt.NDArray[np.uint8]:
        r = rect or Rect(0, 0, self.geometry.width, self.geometry.height)
        return np.ascontiguousarray(
            self.pixels[self.top + r.y : self.top + r.y + r.h, r.x : r.x + r.w]
        )

    def close(self) -> None:
        pass


class _FixedSearch(MotionSearchPolicy):
    def next(self, shift: int) -> Search:
        return DEFAULT


def measure(
    pixels: npt.NDArray[np.uint8], size: tuple[int, int], shift: int, marked: bool,
    fixed: bool, frames: int,
) -> dict[str, Any]:  # fmt: skip
    width, height = size
    source = PageSource(pixels, width, height)
    pipeline = _Pipeline(lambda: source, 60, BITRATE, IDENTITY if marked else None)
    if fixed:
        pipeline._search = _FixedSearch()
    key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
    capture = Plan(at=0.0, capture=True, refine=False, keyframe=False)
    pipeline.produce(Codec.H264, key, None, 0, BITRATE)
    sizes, times = [], []
    for i in range(1, frames + 1):
        source.top += shift
        if source.top + height > pixels.shape[0]:
            break
        started = time.perf_counter()
        produced = pipeline.produce(Codec.H264, capture, None, i * 1500, BITRATE)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(produced.size)
    pipeline.close()
    return {
        "shift": shift,
        "marked": marked,
        "fixed_search": fixed,
        "bytes": statistics.median(sizes),
        "ms": round(statistics.median(times), 2),
        "scrolls_found": pipeline.scrolls,
        "frames": len(sizes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.pipeline_scroll", description=__doc__)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)
    width, _, height = args.size.partition("x")
    size = (int(width), int(height))
    pixels = page(size[0], size[1] + max(SHIFTS) * (args.frames + 1))
    # One minute throughout: the mark's text does not change mid-measurement.
    noon = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
    screen_track._utc_now = lambda: noon  # type: ignore[assignment]
    rows = []
    print(f"{size[0]}x{size[1]}, {args.frames} frames per row; median per frame")
    print("rows/frame | search | mark | bytes | ms | scrolls found")
    for shift in SHIFTS:
        for fixed in (True, False):
            for marked in (False, True):
                row = measure(pixels, size, shift, marked, fixed, args.frames)
                rows.append(row)
                print(
                    f"{shift:>4} | {'fixed dia' if fixed else 'adaptive'} | "
                    f"{'on' if marked else 'off'} | {row['bytes']:>8.0f} | {row['ms']:>6.1f} | "
                    f"{row['scrolls_found']}/{row['frames']}",
                    flush=True,
                )
    json.dump(rows, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
