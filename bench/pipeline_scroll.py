"""The agent's encode pipeline alone on a scrolled page: bytes and CPU time per frame.

    .venv/bin/python -m bench.pipeline_scroll [--size 1280x720] [--frames 60] [--rounds 3]
        [--fixed-search]

No X server, no browser, no network: the glass's chart text (``bench/glass.py``) is rendered
once into a tall page and the pipeline (``encode_pipeline.EncodePipeline``: scroll detection,
watermark, change detection, conversion, x264) captures it through a fake source that moves
the window down by a fixed number of rows per frame. Rows per frame = px/s divided by the
frame rate (2000 px/s at 30 fps is 67 rows). For each shift it reports the median bytes and
encode-thread milliseconds per frame with the watermark off, on as shipped (the sparse blend
of ``Watermark.blend_into``), and on with the dense blend (``dense``: the rectangle's whole
mask built and scanned, as the agent did before), plus the milliseconds of the capture's own
work; with ``--fixed-search`` also with the motion search fixed at ultrafast's own (what the
agent did before scroll detection).

Bytes follow the rate control's budget, which fills with time: the pipeline's clock is a
frame clock here (``--fps`` frames a second, one second of rest after the keyframe), not the
wall clock, so a configuration that takes longer per frame is not given more bytes for it
(before, the slower "mark on" got a fuller bucket, hence a finer quantizer and more bytes).
Bytes per frame still vary a little (x264's threads); milliseconds depend on the machine's load:
the configurations run in turn, in a rotating order, ``--rounds`` times, and each figure is
the median over all their frames, so a burst of other work weighs on all of them alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import types
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from bench.glass_content import clinic_text
from host_agent.video import encode_pipeline
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import Rect
from host_agent.video.encode_pipeline import Codec, EncodePipeline
from host_agent.video.fonts import font
from host_agent.video.motion_search import DEFAULT, MotionSearchPolicy, Search
from host_agent.video.scheduler import Plan
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
    """The tall page seen through the screen; each grab a new array, as mss gives."""

    fresh_grabs = True

    def __init__(self, pixels: npt.NDArray[np.uint8], width: int, height: int) -> None:
        self.pixels = pixels
        self.top = 0
        self.geometry = ScreenGeometry(0, 0, width, height)

    def grab(self, rect: Rect | None = None) -> npt.NDArray[np.uint8]:
        r = rect or Rect(0, 0, self.geometry.width, self.geometry.height)
        return self.pixels[self.top + r.y : self.top + r.y + r.h, r.x : r.x + r.w].copy()

    def close(self) -> None:
        pass


class _FixedSearch(MotionSearchPolicy):
    def next(self, shift: int) -> Search:
        return DEFAULT


@dataclass(frozen=True)
class Config:
    marked: bool
    dense: bool = False
    fixed: bool = False

    @property
    def label(self) -> str:
        search = "fixed dia" if self.fixed else "adaptive"
        mark = ("on, dense" if self.dense else "on") if self.marked else "off"
        return f"{search} | {mark}"


class FrameClock:
    """The pipeline's ``time.monotonic`` in the bench: advanced by hand, a frame at a time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@dataclass
class Measured:
    """Per frame: bytes, wall ms, CPU ms of the whole process (x264's threads included: less
    disturbed by other work on the machine than wall time), ms of the capture's own work,
    changed 16x16 tiles; and how many scrolls were found."""

    sizes: list[int]
    times: list[float]
    cpu: list[float]
    capture: list[float]
    tiles: list[int]
    scrolls: int


def measure(
    pixels: npt.NDArray[np.uint8], size: tuple[int, int], shift: int, config: Config,
    frames: int, fps: float = 30.0,
) -> Measured:  # fmt: skip
    """One configuration's frames, with the pipeline's clock advanced 1/``fps`` s a frame."""
    width, height = size
    clock = FrameClock()
    # Only the pipeline's module sees the frame clock (the bench's own timing stays real);
    # patched (and put back however the run ends), as ``time`` is no export of that module.
    frame_time = types.SimpleNamespace(monotonic=clock.monotonic)
    with mock.patch.object(encode_pipeline, "time", frame_time):
        source = PageSource(pixels, width, height)
        pipeline = EncodePipeline(lambda: source, 60, BITRATE, IDENTITY if config.marked else None)
        if config.dense and pipeline.watermark is not None:
            # The old blend in place of the shipped one, on this instance (mypy forbids
            # assigning to a method: a bench-only swap, not an option of the agent's).
            pipeline.watermark.blend_into = pipeline.watermark.blend_dense_into  # type: ignore[method-assign]
        if config.fixed:
            pipeline._search = _FixedSearch()
        marker = pipeline.marker
        take = marker.take
        marking: list[float] = []

        def timed_take(*args: Any) -> npt.NDArray[np.uint8]:
            # The capture's own work: scroll detection, then (mark on) the marking and the copy
            # of the unmarked pixels; mark on less mark off is what marking costs.
            started = time.perf_counter()
            out = take(*args)
            marking.append((time.perf_counter() - started) * 1000)
            return out

        # Wrapped on this instance only (a method assigned: mypy's objection is the point).
        marker.take = timed_take  # type: ignore[assignment]
        key = Plan(at=0.0, capture=True, refine=False, keyframe=True)
        capture = Plan(at=0.0, capture=True, refine=False, keyframe=False)
        pipeline.produce(Codec.H264, key, None, 0, BITRATE)
        # The keyframe's debt repaid: every configuration starts with a full bucket.
        clock.now += 1.0
        marking.clear()
        sizes, times, cpu, tiles = [], [], [], []
        for i in range(1, frames + 1):
            clock.now += 1 / fps
            source.top += shift
            if source.top + height > pixels.shape[0]:
                break
            started, started_cpu = time.perf_counter(), time.process_time()
            produced = pipeline.produce(Codec.H264, capture, None, i * 1500, BITRATE)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            sizes.append(produced.size)
            tiles.append(int(produced.changed.sum()))
        pipeline.close()
    return Measured(sizes, times, cpu, marking, tiles, pipeline.scrolls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.pipeline_scroll", description=__doc__)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shifts", default=",".join(map(str, SHIFTS)))
    parser.add_argument("--fixed-search", action="store_true")
    parser.add_argument("--fps", type=float, default=30.0, help="the pipeline's frame clock")
    parser.add_argument("--marks", default="off,on,dense", help="which of off, on, dense")
    args = parser.parse_args(argv)
    width, _, height = args.size.partition("x")
    size = (int(width), int(height))
    shifts = [int(s) for s in args.shifts.split(",")]
    pixels = page(size[0], size[1] + max(shifts) * (args.frames + 1))
    # One minute throughout: the mark's text does not change mid-measurement.
    noon = dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
    encode_pipeline._utc_now = lambda: noon
    marks = {"off": Config(False), "on": Config(True), "dense": Config(True, dense=True)}
    configs = [marks[name] for name in args.marks.split(",")]
    if args.fixed_search:
        configs += [Config(False, fixed=True), Config(True, dense=True, fixed=True)]
    rows = []
    print(f"{size[0]}x{size[1]}, {args.frames} frames x {args.rounds} rounds; median per frame")
    print("rows/frame | search | mark | bytes | ms | cpu ms | capture ms | tiles | scrolls found")
    for shift in shifts:
        results: dict[Config, list[Measured]] = {c: [] for c in configs}
        for round_ in range(args.rounds):
            # A rotating order: no configuration always runs first (or after the heaviest).
            for config in configs[round_ % len(configs) :] + configs[: round_ % len(configs)]:
                got = measure(pixels, size, shift, config, args.frames, args.fps)
                results[config].append(got)
        for config in configs:
            runs = results[config]

            def median(field: str, runs: list[Measured] = runs) -> float:
                values: list[float] = [v for run in runs for v in getattr(run, field)]
                return statistics.median(values)

            row = {
                "shift": shift,
                "marked": config.marked,
                "dense": config.dense,
                "fixed_search": config.fixed,
                "bytes": median("sizes"),
                "ms": round(median("times"), 2),
                "cpu_ms": round(median("cpu"), 2),
                "take_ms": round(median("capture"), 2),
                "tiles": median("tiles"),
                "scrolls_found": sum(run.scrolls for run in runs),
                "frames": sum(len(run.sizes) for run in runs),
            }
            rows.append(row)
            print(
                f"{shift:>4} | {config.label} | {row['bytes']:>8.0f} | {row['ms']:>6.1f} | "
                f"{row['cpu_ms']:>6.1f} | {row['take_ms']:>5.1f} | {row['tiles']:>5.0f} | "
                f"{row['scrolls_found']}/{row['frames']}",
                flush=True,
            )
    json.dump(rows, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
