"""Where typing's bytes go: the video's and the lossless tiles', tile by tile.

A real broker (watermark on, as shipped, unless ``--watermark off``), the agent in this
process (so its ``BlockTracker`` can be watched) on a 1280x720 Xvfb showing the bench's
glass (``bench/glass.py``) in a mode (``typing``: 6 characters a second on the notes line),
and headless Chromium as the viewer. After a warm-up (the first screen's tiles), over
``--seconds``:

- the viewer's video bytes (``bytesReceived`` of its inbound RTP) and tile bytes
  (``window.mamoriTiles``);
- every capture the tracker was told of (when, how many 16-px tiles and 128-px blocks,
  their bounding box) and every tile it sent (when, which block, bytes), with whether a
  later change of its block overtook it (wasted) within the window.

The window starts 3 s after a minute begins and ends before the next one: the watermark's
time changes once a minute and then the whole screen is marked anew (and re-tiled); that
cost is measured apart: ``--minute`` starts the window 10 s before a minute begins.

Byte counts depend little on the machine's load (what is typed, when, and the settle
delays are the clock's), unlike the latency benches.

    nice -n 10 .venv/bin/python -m bench.typing_bytes [--mode typing] [--seconds 24]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.glass_process import Glass
from devkit.broker import make_certs, running_broker
from devkit.databases import sqlite_url
from devkit.display import start_xvfb
from devkit.viewer_session import agent_and_viewer
from host_agent.video import encode_pipeline, lossless_tiles
from host_agent.webrtc.ice import restrict_host_candidates

HOST_ID = "bench-pc"
W, H = 1280, 720
WARMUP_S = 6.0
STATS = """() => ({
  video: window.mamoriStats?.bytesReceived ?? 0, at: window.mamoriStats?.timestamp ?? 0,
  tiles: window.mamoriTiles?.tiles ?? 0, tile_bytes: window.mamoriTiles?.bytes ?? 0,
})"""


class Log:
    """What the agent's tile trackers were told and sent (patched in, this process only)."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.tiles: list[dict[str, Any]] = []
        self.refinements: list[dict[str, Any]] = []  # the video's QP-11 refinements
        self.recording = False
        self.dump: Path | None = None  # where to write each tile's pixels (raw BGRA)

    def install(self) -> None:
        log = self
        changed = lossless_tiles.BlockTracker.changed
        take = lossless_tiles.BlockTracker.take

        def watched_changed(
            tracker: lossless_tiles.BlockTracker, tiles: Any, now: float
        ) -> bytes | None:
            if log.recording and tiles.any():
                rows, cols = np.nonzero(tiles)
                blocks = tracker.blocks_of(tiles)
                listed = [[int(r), int(c)] for r, c in zip(*np.nonzero(blocks), strict=True)]
                box = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
                log.changes.append({
                    "t": now, "tiles16": int(tiles.sum()), "blocks": int(blocks.sum()),
                    "block_list": listed, "bbox16": box,
                    "per_block": [int(n) for n in _per_block(tracker, tiles)[blocks]],
                })  # fmt: skip
            return changed(tracker, tiles, now)

        def watched_take(
            tracker: lossless_tiles.BlockTracker, picture: Any, now: float, allowance: int
        ) -> list[bytes]:
            due = tracker.due(now)
            messages = take(tracker, picture, now, allowance)
            if log.recording:
                for block, message in zip(due, messages, strict=False):
                    if log.dump is not None:
                        name = f"{len(log.tiles):04d}-{block.row}-{block.col}.bgra"
                        pixels = picture[block.y : block.y + block.h, block.x : block.x + block.w]
                        (log.dump / name).write_bytes(np.ascontiguousarray(pixels).tobytes())
                    log.tiles.append({
                        "t": now, "row": block.row, "col": block.col, "bytes": len(message),
                        "delay": float(tracker.delays.delay[block.row, block.col]),
                    })  # fmt: skip
            return messages

        refinement = encode_pipeline.EncodePipeline._refinement

        def watched_refinement(pipeline: Any, plan: Any, changed: Any, now: float) -> Any:
            refine, retry = refinement(pipeline, plan, changed, now)
            if log.recording and refine is not None and pipeline.tiles is not None:
                blocks = pipeline.tiles.blocks_of(refine)
                per = _per_block(pipeline.tiles, refine)[blocks]
                listed = [[int(r), int(c)] for r, c in zip(*np.nonzero(blocks), strict=True)]
                log.refinements.append({"t": now, "block_list": listed, "per_block": per.tolist()})
            return refine, retry

        encode_pipeline.EncodePipeline._refinement = watched_refinement  # type: ignore[method-assign,assignment]
        lossless_tiles.BlockTracker.changed = watched_changed  # type: ignore[method-assign,assignment]
        lossless_tiles.BlockTracker.take = watched_take  # type: ignore[method-assign,assignment]


def _per_block(tracker: lossless_tiles.BlockTracker, tiles: Any) -> Any:
    """How many 16-px tiles of ``tiles`` each block holds."""
    per = lossless_tiles.BLOCK // 16
    padded = np.zeros((tracker.rows * per, tracker.cols * per), dtype=np.int32)
    padded[: tiles.shape[0], : tiles.shape[1]] = tiles
    return padded.reshape(tracker.rows, per, tracker.cols, per).sum(axis=(1, 3))


async def stats(page: Any) -> dict[str, float]:
    """The viewer's counts, from a stats sample taken after this call (once a second)."""
    first = (await page.evaluate(STATS))["at"]
    for _ in range(30):  # bounded: 3 s
        await asyncio.sleep(0.1)
        now = await page.evaluate(STATS)
        if now["at"] != first:
            return dict(now)
    return dict(await page.evaluate(STATS))


async def measure(args: argparse.Namespace, runs_dir: Path) -> dict[str, Any]:
    log = Log()
    log.dump = args.dump
    if args.dump is not None:
        args.dump.mkdir(parents=True, exist_ok=True)
    log.install()
    certs = make_certs(runs_dir / "certs")
    with start_xvfb(W, H) as xvfb:
        glass = await Glass.start(xvfb, runs_dir / "paints.txt")
        async with (
            running_broker(certs, sqlite_url(runs_dir), watermark=args.watermark == "on") as broker,
            agent_and_viewer(broker, xvfb.name, runs_dir, HOST_ID, args.tiles == "on") as page,
        ):
            if args.caret:
                await glass.command("caret on", expect="ok caret")
            await glass.command(f"mode {args.mode}", expect="ok mode")
            await asyncio.sleep(WARMUP_S)
            second = dt.datetime.now(dt.UTC).second + time.time() % 1
            if args.minute:
                # Start 10 s before a minute begins: the window holds the new minute.
                await asyncio.sleep((50 - second) % 60)
            elif second < 3 or 60 - second < args.seconds + 8:
                # Start 3 s into a minute (the window must end before the next one).
                await asyncio.sleep((63 - second) % 60)
            before = await stats(page)
            loadavg_start = Path("/proc/loadavg").read_text().split()[:3]
            start = time.monotonic()
            log.recording = True
            await asyncio.sleep(args.seconds)
            log.recording = False
            seconds = time.monotonic() - start
            after = await stats(page)
            loadavg_end = Path("/proc/loadavg").read_text().split()[:3]
        glass.stop()
    return summarize(log, before, after, seconds, args, [loadavg_start, loadavg_end])


def summarize(
    log: Log, before: dict[str, float], after: dict[str, float], seconds: float,
    args: argparse.Namespace, loadavg: list[list[str]],
) -> dict[str, Any]:  # fmt: skip
    # A tile is wasted if a later change (in the window) touched its block.
    wasted = 0
    wasted_bytes = 0
    per_block: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    for tile in log.tiles:
        key = (tile["row"], tile["col"])
        per_block[key].append(tile["bytes"])
        if any(c["t"] > tile["t"] and list(key) in c["block_list"] for c in log.changes):
            wasted += 1
            wasted_bytes += tile["bytes"]
    sizes = sorted(t["bytes"] for t in log.tiles)
    full = [c for c in log.changes if c["blocks"] >= 40]
    small = [c for c in log.changes if c["tiles16"] <= 4]
    video = after["video"] - before["video"]
    tile_bytes = after["tile_bytes"] - before["tile_bytes"]
    return {
        "mode": args.mode,
        "caret": args.caret,
        "watermark": args.watermark,
        "seconds": round(seconds, 2),
        "loadavg": loadavg,
        "viewer": {
            "video_kbit_s": round(video * 8 / seconds / 1000, 1),
            "tile_kbit_s": round(tile_bytes * 8 / seconds / 1000, 1),
            "tiles": after["tiles"] - before["tiles"],
        },
        "agent": {
            "tiles": len(log.tiles),
            "tile_bytes": sum(sizes),
            "tile_kbit_s": round(sum(sizes) * 8 / seconds / 1000, 1),
            "tile_bytes_median": sizes[len(sizes) // 2] if sizes else 0,
            "tile_bytes_max": sizes[-1] if sizes else 0,
            "wasted": wasted,
            "wasted_bytes": wasted_bytes,
            "blocks_tiled": len(per_block),
            "tiles_per_block": {f"{r},{c}": len(v) for (r, c), v in sorted(per_block.items())},
            "changes": len(log.changes),
            "changes_whole_screen": len(full),
            "changes_at_most_4_tiles16": len(small),
            "refinements": len(log.refinements),
            "refined_tiles16_per_block": {
                f"{r},{c}": n for (r, c), n in sorted(_refined_per_block(log.refinements).items())
            },
        },
        "changes": log.changes if args.verbose else [],
        "tile_log": log.tiles if args.verbose else [],
    }


def _refined_per_block(refinements: list[dict[str, Any]]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = collections.defaultdict(int)
    for refinement in refinements:
        for (r, c), n in zip(refinement["block_list"], refinement["per_block"], strict=True):
            out[(r, c)] += n
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", default="typing")
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--watermark", choices=("on", "off"), default="on")
    parser.add_argument("--tiles", choices=("on", "off"), default="on")
    parser.add_argument("--minute", action="store_true", help="a window across a minute")
    parser.add_argument("--caret", action="store_true", help="a blinking caret (focus)")
    parser.add_argument("--dump", type=Path, help="write each tile's pixels here")
    parser.add_argument("--verbose", action="store_true", help="every change and tile")
    args = parser.parse_args()
    if not args.minute and args.seconds > 45:
        parser.error("--seconds must fit a minute (at most 45) unless --minute")
    restrict_host_candidates(["127.0.0.1"])
    with tempfile.TemporaryDirectory(prefix="mamori-bench-") as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
