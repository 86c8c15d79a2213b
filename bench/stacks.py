"""The two remote-desktop stacks the bench compares, each with a receiver page in Chromium.

- ``ours``: a real broker (in this process), a real agent (``python -m host_agent``, its own
  process so its CPU can be read) and our real web client in headless Chromium.
- ``novnc``: x11vnc on the same display, websockify, and noVNC's own RFB client (Debian's
  ``novnc`` package) in a tiny receiver page, in headless Chromium.

Both give back a ``Receiver``: the Playwright page with ``window.__probe`` in it, the process
groups whose CPU is measured, and a ``transport_bytes`` reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, async_playwright

from bench import procstat
from certs.authority import ServerFiles
from devkit.agent import enroll_agent
from devkit.broker import running_broker
from devkit.browser import approve_this_browser, sign_in
from devkit.databases import sqlite_url
from devkit.identity import make_org, make_person

CHROMIUM = "/usr/bin/chromium"
NOVNC_DIR = Path("/usr/share/novnc")
RECEIVERS = Path(__file__).resolve().parent / "receivers"
PROBE_JS = RECEIVERS / "probe.js"
HOST_ID = "bench-pc"

# Record every RTCPeerConnection the page makes, so the probe can read transport stats of
# our viewer's connection without the product exposing it.
RECORD_PEERS = """(() => {
  const Native = window.RTCPeerConnection;
  window.__benchPeerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__benchPeerConnections.push(this); }
  };
})();"""


@dataclass
class Receiver:
    page: Page
    # name -> root pids; CPU is read for each root and everything below it
    process_roots: dict[str, list[int]]
    transport_bytes: Callable[[], Awaitable[dict[str, float]]]

    def cpu_groups(self) -> dict[str, list[int]]:
        return {
            name: [pid for root in roots for pid in procstat.descendants(root)]
            for name, roots in self.process_roots.items()
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(
    port: int, proc: subprocess.Popen[bytes], timeout: float = 15, host: str = "127.0.0.1"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def chromium(
    profile: Path, extra_args: list[str], executable: str = CHROMIUM
) -> AsyncIterator[BrowserContext]:
    """Debian's Chromium, headless, fresh profile; software decode as on a plain laptop.
    ``executable``: a wrapper that starts it elsewhere (another network namespace)."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                # Headless pages count as hidden; throttled timers would distort both sides.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                *extra_args,
            ],
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            await context.close()


def browser_root(profile: Path) -> list[int]:
    """The browser process of the Chromium using ``profile`` (its children hold the rest)."""
    pids = procstat.find_by_cmdline(f"--user-data-dir={profile}")
    roots = [p for p in pids if procstat.parent_of(p) not in pids]
    return roots


@contextlib.asynccontextmanager
async def ours(
    display: str, tmp: Path, certs: ServerFiles, fps: int, log: Any, watermark: bool = True,
    canvas: bool = False,
) -> AsyncIterator[Receiver]:  # fmt: skip
    """Broker + agent process + our viewer in Chromium, connected and showing frames; the
    watermark as shipped (on) unless ``watermark`` is False (the broker's default policy);
    the viewer's canvas video path (``?video=canvas``) instead of its <video> if ``canvas``."""
    async with running_broker(certs, sqlite_url(tmp), watermark=watermark) as broker:
        org = await make_org(broker, "bench")
        person = await make_person(broker, org, "doctor")
        state_dir = tmp / f"agent-{time.monotonic_ns()}"
        await enroll_agent(broker, org, HOST_ID, state_dir, "bench")
        agent = subprocess.Popen(
            [
                sys.executable, "-m", "host_agent", "--state-dir", str(state_dir),
                "--broker", broker.agent_wss_url, "--name", "bench",
                "--display", display, "--fps", str(fps), "--ice-address", "127.0.0.1",
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        profile = tmp / f"profile-ours-{time.monotonic_ns()}"
        try:
            async with chromium(
                profile,
                [
                    f"--ignore-certificate-errors-spki-list={certs.spki_sha256_b64}",
                    "--allow-loopback-in-peer-connection",
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                ],
            ) as context:
                await context.add_init_script(RECORD_PEERS)
                page = await context.new_page()
                await sign_in(page, broker, person)
                await approve_this_browser(page, broker, person)
                await page.wait_for_function(
                    f"() => document.querySelector('[data-host-id=\"{HOST_ID}\"]')",
                    timeout=20_000,
                )
                query = "?video=canvas" if canvas else ""
                await page.goto(f"{broker.public_origin}/viewer.html{query}#/host/{HOST_ID}")
                await page.wait_for_function(
                    "() => document.body.dataset.connection === 'connected'"
                    " && document.body.dataset.video === 'playing'"
                    + (" && window.mamoriCanvasVideo.state === 'drawing'" if canvas else ""),
                    timeout=20_000,
                )
                await page.evaluate(PROBE_JS.read_text(encoding="utf-8"))
                watch = "watchCanvas" if canvas else "watchOurs"
                await page.evaluate(f"() => window.__probe.{watch}()")

                async def transport_bytes() -> dict[str, float]:
                    result: dict[str, float] = await page.evaluate(
                        "() => window.__probe.transportBytes()"
                    )
                    return result

                yield Receiver(
                    page,
                    {"server": [agent.pid], "browser": browser_root(profile)},
                    transport_bytes,
                )
        finally:
            stop_process(agent)
            shutil.rmtree(profile, ignore_errors=True)
            # Let the closing WebSockets finish: uvicorn's shutdown fails on one mid-close.
            await asyncio.sleep(0.5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve_receiver(root: Path, address: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@contextlib.asynccontextmanager
async def novnc(
    display: str,
    tmp: Path,
    log: Any,
    address: str = "127.0.0.1",
    executable: str = CHROMIUM,
    ready_timeout: float = 20.0,
) -> AsyncIterator[Receiver]:
    """x11vnc + websockify + noVNC's RFB client in Chromium, connected and showing frames.
    websockify and the receiver page listen on ``address`` (x11vnc on loopback, behind
    websockify, as deployed); ``executable`` starts Chromium (in another namespace, say);
    ``ready_timeout`` (s) bounds loading the page and the first picture (a lossy link)."""
    if not (NOVNC_DIR / "core" / "rfb.js").is_file() or not shutil.which("x11vnc"):
        raise RuntimeError("noVNC or x11vnc missing: run deploy/setup.sh bench")
    site = tmp / "novnc-site"
    site.mkdir(exist_ok=True)
    for name in ("core", "vendor"):
        link = site / name
        if not link.exists():
            link.symlink_to(NOVNC_DIR / name)
    for name in ("probe.js", "novnc.html", "novnc.js"):
        shutil.copyfile(RECEIVERS / name, site / name)
    rfb_port, ws_port = free_port(), free_port()
    x11vnc = subprocess.Popen(
        # Its defaults (XDamage hints, -wait 20, -defer 20, cursor shapes) but two:
        # -nonap, because x11vnc polls less while its client sends no input, and the glass
        # changes the screen by itself where a person's keys would keep x11vnc awake (with
        # naps it measured ~65 ms instead of ~22 ms): noVNC is measured at its best; and
        # -ncache 0 (off in Debian's build anyway; noVNC does not use it).
        ["x11vnc", "-display", display, "-rfbport", str(rfb_port), "-localhost", "-nopw",
         "-forever", "-shared", "-quiet", "-nonap", "-ncache", "0"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    websockify: subprocess.Popen[bytes] | None = None
    server, http_port = _serve_receiver(site, address)
    profile = tmp / f"profile-novnc-{time.monotonic_ns()}"
    try:
        await asyncio.to_thread(wait_listening, rfb_port, x11vnc)
        websockify = subprocess.Popen(
            ["websockify", f"{address}:{ws_port}", f"127.0.0.1:{rfb_port}"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.to_thread(wait_listening, ws_port, websockify, 15, address)
        async with chromium(profile, [], executable) as context:
            page = await context.new_page()
            page.set_default_timeout(ready_timeout * 1000)
            if os.environ.get("BENCH_DEBUG"):
                page.on("console", lambda m: print("console:", m.text, file=sys.stderr))
                page.on("pageerror", lambda e: print("pageerror:", e, file=sys.stderr))
            await page.goto(
                f"http://{address}:{http_port}/novnc.html?ws=ws://{address}:{ws_port}/websockify"
            )
            await page.wait_for_function(
                "() => document.body.dataset.connected === 'yes'"
                " && window.__probe.state.pictures > 0",
                timeout=ready_timeout * 1000,
            )

            async def transport_bytes() -> dict[str, float]:
                result: dict[str, float] = await page.evaluate(
                    "() => ({wsBytes: window.__probe.state.wsBytes,"
                    " wsWireBytes: window.__probe.state.wsWireBytes,"
                    " wsMessages: window.__probe.state.wsMessages,"
                    " wsSegments: window.__probe.state.wsSegments})"
                )
                return result

            yield Receiver(
                page,
                {"server": [x11vnc.pid, websockify.pid], "browser": browser_root(profile)},
                transport_bytes,
            )
    finally:
        if websockify is not None:
            stop_process(websockify)
        stop_process(x11vnc)
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
