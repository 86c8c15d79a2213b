"""Key-to-pixel latency and frame rate of a real session, as a person at the browser feels it.

A real broker, a real agent on Xvfb with the sample clinic app, and headless Chromium: each
key typed in the page travels over the `input` channel, is injected with XTest, drawn by Tk,
captured, encoded, sent, decoded, and shows up as changed pixels in the <video>. Both ends of
each measurement are read on the browser's clock (performance.now() before the key, and for
the first frame whose notes-field pixels changed its requestVideoFrameCallback time, the
rendering update that shows it, and its expectedDisplayTime, when the compositor expects it
visible: key to display), so no clock sync is involved.

    .venv/bin/python -m bench.input_latency [--keys 30]

Unlike ``bench.compare`` (glass-driven, no viewer input), this goes through the viewer's own
input, so it measures the agent's interactive frame rate too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import aioice.ice
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from bench import at_display
from devkit.agent import enroll_agent
from devkit.broker import make_certs, running_broker
from devkit.browser import approve_this_browser, sign_in
from devkit.chromium import CHROMIUM, chromium_args
from devkit.databases import sqlite_url
from devkit.display import start_sample_app, start_xvfb
from devkit.identity import make_org, make_person
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.platform.backends import open_injector
from host_agent.webrtc.ice import restrict_host_candidates
from host_agent.webrtc.peer_session import StreamSettings

HOST_ID = "bench-pc"

WATCH_REGION = """([x, y, w, h]) => {
  const video = document.getElementById('remote-video');
  const canvas = document.createElement('canvas');
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  window.__changes = [];
  let last = null;
  const onFrame = (now, meta) => {
    ctx.drawImage(video, x, y, w, h, 0, 0, w, h);
    const d = ctx.getImageData(0, 0, w, h).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum = (sum * 31 + d[i] + d[i + 1] * 7) >>> 0;
    if (last !== null && sum !== last) window.__changes.push([now, meta.expectedDisplayTime]);
    last = sum;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}"""


async def measure(keys: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="mamori-bench-"))
    certs = make_certs(tmp / "certs")
    restrict_host_candidates(["127.0.0.1"])
    with start_xvfb(1280, 720) as xvfb, start_sample_app(xvfb, tmp / "state.json") as app:
        async with running_broker(certs, sqlite_url(tmp)) as broker:
            org = await make_org(broker, "bench")
            person = await make_person(broker, org, "doctor")
            state = await enroll_agent(broker, org, HOST_ID, tmp / "agent", "bench")
            injector = open_injector(xvfb.name)
            link = BrokerLink(
                LinkSettings(broker.agent_wss_url, HOST_ID, "bench", state.ssl_context),
                StreamSettings(display=xvfb.name),
                injector,
            )
            task = asyncio.create_task(link.run())
            await asyncio.wait_for(link.connected.wait(), 10)
            async with async_playwright() as pw:
                context = await pw.chromium.launch_persistent_context(
                    str(tmp / "profile"),
                    executable_path=CHROMIUM,
                    headless=True,
                    args=chromium_args(certs.spki_sha256_b64),
                    viewport={"width": 1400, "height": 900},
                )
                page = await context.new_page()
                await sign_in(page, broker, person)
                await approve_this_browser(page, broker, person)
                await page.goto(f"{broker.public_origin}/viewer.html#/host/{HOST_ID}")
                await page.wait_for_function(
                    "() => document.body.dataset.connection === 'connected'"
                    " && document.body.dataset.input === 'open'",
                    timeout=20_000,
                )
                x, y, w, h = app.state()["geometry"]["notes"]
                box = await page.locator("#remote-video").bounding_box()
                assert box is not None
                scale = min(box["width"] / 1280, box["height"] / 720)
                await page.mouse.click(box["x"] + (x + 40) * scale, box["y"] + (y + 20) * scale)
                await asyncio.sleep(1.0)
                await page.evaluate(WATCH_REGION, [x, y, w, h])
                latencies = []
                at_display_ms = []
                fps_samples = []
                missed = 0
                for i in range(keys):
                    await asyncio.sleep(0.35)
                    t0 = await page.evaluate("() => performance.now()")
                    await page.keyboard.press("KeyA" if i % 2 == 0 else "KeyB")
                    try:
                        await page.wait_for_function(
                            "(t0) => window.__changes.some(([t]) => t > t0)", arg=t0,
                            timeout=3000,
                        )  # fmt: skip
                    except PlaywrightTimeout:
                        missed += 1  # reported: a key whose pixels never changed
                        continue
                    seen = at_display.key_seen(await page.evaluate("() => window.__changes"), t0)
                    assert seen is not None  # the wait above found it
                    latencies.append(seen[0])
                    at_display_ms.append(seen[1])
                    fps_samples.append(await page.evaluate("() => window.mamoriStats.fps"))
                stats = await page.evaluate("() => ({...window.mamoriStats})")
                await context.close()
            await link.stop()
            await task
            injector.close()
    return {
        "keys": keys,
        "measured": len(latencies),
        "missed": missed,
        # to the rendering update that shows the changed frame (rVFC callback time)
        "key_to_pixel_ms": _figures(latencies),
        # to when the compositor expects that frame visible (rVFC expectedDisplayTime)
        "key_to_display_ms": _figures(at_display_ms),
        "fps_while_typing_median": statistics.median(fps_samples),
        "browser_stats": stats,
    }


def _figures(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 1),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "min": round(ordered[0], 1),
        "max": round(ordered[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=30)
    args = parser.parse_args()
    original = aioice.ice.get_host_addresses
    try:
        result = asyncio.run(measure(args.keys))
    finally:
        aioice.ice.get_host_addresses = original
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
