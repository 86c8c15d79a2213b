"""Settled pixels with and without lossless tiles: exact-pixel share in the viewer at +250,
+500 and +2000 ms after a full-screen picture appears, and the tiles' bytes.

A real broker, a real agent on Xvfb (watermark off: the pixels are compared with what was
drawn) and headless Chromium. For each content (dense coloured text; a radiograph-like
grayscale image) the screen goes from a flat gray to the picture at once; the page
snapshots what it shows (the video with the tile overlay over it) at the instants, on
its own clock from when it is told the picture is up (a few ms after the X server drew it).
Exact share counts the pixels equal to the drawn picture, over the 128-px blocks the
agent's own banner and indicator do not touch. And the tiles' bytes per second at rest
(a gray screen; only the banner is redrawn) and with a clock (a 96x20 patch of text
redrawn every second). Per page switch, the video's bytes too (the viewer's
``bytesReceived``, over ``SWITCH_S`` from the switch: the change, its QP-11 refinement, the
keep-alives and the banner's redraws). Also, offline: bytes and CPU of the tile
codecs (the agent's: gray PNG at zlib level 1 when the block is gray, else WebP lossless;
RGB PNG at level 1 and 6; zlib over raw RGB) for a full 1280x720 screen.

    .venv/bin/python -m bench.settled_tiles [--runs 3] [--tiles on|off|both]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mss
import numpy as np
import numpy.typing as npt
from PIL import Image

from devkit.broker import make_certs, running_broker
from devkit.databases import sqlite_url
from devkit.display import start_xvfb
from devkit.settled_screen import RGB, ShownPicture, radiograph_picture, text_picture
from devkit.viewer_session import agent_and_viewer
from host_agent.video.lossless_tiles import encode_tile
from host_agent.webrtc.ice import restrict_host_candidates

HOST_ID = "bench-pc"
W, H = 1280, 720
AT_MS = (250, 500, 2000, 5000)  # the three, and when a full screen is done
GRAY = np.full((H, W, 3), 128, dtype=np.uint8)
REST_S = 10.0
# A page switch's bytes are counted over this long: past the tiles (2-5 s for a full
# screen) and the video's fallback refinement after them.
SWITCH_S = 10.0
BACK_TO_GRAY_S = 5.0
VIDEO_BYTES = "() => window.mamoriStats?.bytesReceived ?? null"


async def video_bytes(page: Any) -> int:
    """The viewer's video bytes received, from a stats sample taken after this call (the
    viewer samples once a second)."""
    first = await page.evaluate("() => window.mamoriStats?.timestamp ?? null")
    for _ in range(30):  # bounded: 3 s
        await asyncio.sleep(0.1)
        if await page.evaluate("() => window.mamoriStats?.timestamp ?? null") != first:
            break
    return int(await page.evaluate(VIDEO_BYTES) or 0)


# Snapshots of what the viewer shows (video, then the overlay over it) at AT_MS after now.
SNAPSHOTS = """(at) => new Promise((resolve) => {
  const video = document.getElementById('remote-video');
  const tiles = document.getElementById('remote-tiles');
  const shots = [];
  const start = performance.now();
  const take = () => {
    const c = document.createElement('canvas');
    c.width = video.videoWidth; c.height = video.videoHeight;
    const ctx = c.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(video, 0, 0);
    if (tiles && !tiles.hidden && tiles.width === c.width) ctx.drawImage(tiles, 0, 0);
    shots.push({ms: performance.now() - start, c});
    if (shots.length === at.length) {
      resolve(shots.map(({ms, c}) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let text = '';
        for (let i = 0; i < d.length; i += 4) text += String.fromCharCode(d[i], d[i + 1], d[i + 2]);
        return {ms, rgb: btoa(text)};
      }));
    }
  };
  for (const ms of at) setTimeout(take, ms);
})"""


def content(kind: str) -> RGB:
    return text_picture(W, H, seed=5) if kind == "text" else radiograph_picture(W, H, seed=5)


def block_mask(display: str, expected: RGB) -> npt.NDArray[np.bool_]:
    with mss.MSS(display=display) as grabber:
        shot = grabber.grab({"left": 0, "top": 0, "width": W, "height": H})
    shown = np.frombuffer(shot.rgb, dtype=np.uint8).reshape(H, W, 3)
    same: npt.NDArray[np.bool_] = (shown == expected).all(axis=2)
    mask = np.zeros_like(same)
    for y in range(0, H, 128):
        for x in range(0, W, 128):
            mask[y : y + 128, x : x + 128] = same[y : y + 128, x : x + 128].all()
    return mask


async def one_mode(tiles: bool, runs_dir: Path) -> list[dict[str, Any]]:
    """A session with tiles on or off; each content once."""
    certs = make_certs(runs_dir / "certs")
    results = []
    with start_xvfb(W, H) as xvfb:
        shown = ShownPicture(xvfb.name, 0, 0, GRAY)
        async with (
            running_broker(certs, sqlite_url(runs_dir), watermark=False) as broker,
            agent_and_viewer(broker, xvfb.name, runs_dir, HOST_ID, tiles) as page,
        ):
            await asyncio.sleep(3.0)  # the gray screen settles (and its tiles go)
            for kind in ("text", "radiograph"):
                picture = content(kind)
                video_before = await video_bytes(page)
                before = await page.evaluate("() => window.mamoriTiles.bytes")
                switched = time.monotonic()
                shown.show(picture)
                shots = await page.evaluate(SNAPSHOTS, list(AT_MS))
                await asyncio.sleep(max(0.0, SWITCH_S - (time.monotonic() - switched)))
                after = await page.evaluate("() => window.mamoriTiles.bytes")
                video_after = await video_bytes(page)
                mask = block_mask(xvfb.name, picture)
                shares = {}
                for at, shot in zip(AT_MS, shots, strict=True):
                    rgb = np.frombuffer(base64.b64decode(shot["rgb"]), dtype=np.uint8)
                    exact = (rgb.reshape(H, W, 3) == picture).all(axis=2)
                    shares[at] = float(exact[mask].mean())
                results.append({
                    "tiles": tiles, "content": kind, "exact": shares,
                    "tile_bytes": after - before, "video_bytes": video_after - video_before,
                    "masked_out": float(1 - mask.mean()),
                    "loadavg": Path("/proc/loadavg").read_text().split()[:3],
                })  # fmt: skip
                shown.show(GRAY)
                await asyncio.sleep(BACK_TO_GRAY_S)
            # At rest: only the agent's banner and indicator are drawn (every second).
            before = await page.evaluate("() => window.mamoriTiles.bytes")
            await asyncio.sleep(REST_S)
            after = await page.evaluate("() => window.mamoriTiles.bytes")
            results.append({"tiles": tiles, "content": "rest",
                             "bytes_per_s": (after - before) / REST_S})  # fmt: skip
            # A clock: a small patch of text redrawn with new words every second.
            before = await page.evaluate("() => window.mamoriTiles.bytes")
            for second in range(int(REST_S)):
                shown.show(text_picture(96, 20, seed=100 + second, size=12), at=(1000, 200))
                await asyncio.sleep(1.0)
            after = await page.evaluate("() => window.mamoriTiles.bytes")
            results.append({"tiles": tiles, "content": "clock",
                             "bytes_per_s": (after - before) / REST_S})  # fmt: skip
        shown.close()
    return results


def codecs_offline() -> dict[str, dict[str, Any]]:
    """Bytes and CPU ms per full screen, in 128-px blocks, per codec (median of 5)."""
    out: dict[str, dict[str, Any]] = {}
    for kind in ("text", "radiograph"):
        picture = content(kind)
        blocks = [picture[y : y + 128, x : x + 128] for y in range(0, H, 128)
                  for x in range(0, W, 128)]  # fmt: skip
        codecs: dict[str, Callable[[RGB], bytes]] = {
            "agent": lambda b: encode_tile(_bgra(b)),  # gray PNG or WebP lossless
            "png1": lambda b: _png(b, 1),
            "png6": lambda b: _png(b, 6),
            "zlib1_raw": lambda b: zlib.compress(np.ascontiguousarray(b).tobytes(), 1),
        }
        for name, encode in codecs.items():
            times, size = [], 0
            for _ in range(5):
                start = time.process_time()
                size = sum(len(encode(b)) for b in blocks)
                times.append((time.process_time() - start) * 1000)
            out[f"{kind}/{name}"] = {"bytes": size, "cpu_ms": round(statistics.median(times), 1)}
    return out


def _bgra(rgb: RGB) -> npt.NDArray[np.uint8]:
    bgra = np.full((*rgb.shape[:2], 4), 255, dtype=np.uint8)
    bgra[..., :3] = rgb[..., ::-1]
    return bgra


def _png(block: RGB, level: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(block)).save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


async def main(runs: int, modes: tuple[bool, ...]) -> dict[str, Any]:
    restrict_host_candidates(["127.0.0.1"])
    measured = []
    for run in range(runs):
        for tiles in modes if run % 2 == 0 else modes[::-1]:
            with tempfile.TemporaryDirectory(prefix="mamori-bench-") as tmp:
                measured += await one_mode(tiles, Path(tmp))
    summary: dict[str, Any] = {}
    for tiles in modes:
        on = "on" if tiles else "off"
        for kind in ("text", "radiograph"):
            rows = [r for r in measured if r["tiles"] == tiles and r["content"] == kind]
            summary[f"{on}/{kind}"] = {
                "exact_share_median": {
                    at: statistics.median(r["exact"][at] for r in rows) for at in AT_MS
                },
                "tile_bytes_median": statistics.median(r["tile_bytes"] for r in rows),
                "video_bytes_median": statistics.median(r["video_bytes"] for r in rows),
                "runs": len(rows),
            }
        for kind in ("rest", "clock"):
            rates = [
                r["bytes_per_s"] for r in measured if r["content"] == kind and r["tiles"] == tiles
            ]
            summary[f"{on}/{kind}_tile_bytes_per_s"] = statistics.median(rates)
    return {"summary": summary, "codecs_offline": codecs_offline(), "runs": measured}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiles", choices=("on", "off", "both"), default="both")
    args = parser.parse_args()
    modes = {"on": (True,), "off": (False,), "both": (True, False)}[args.tiles]
    print(json.dumps(asyncio.run(main(args.runs, modes)), indent=1))
