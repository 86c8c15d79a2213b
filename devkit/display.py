"""A private virtual X display (Xvfb) and the sample clinic app on it, for tests and the demo.

    with start_xvfb(1280, 720) as display:                 # display.name == ":N"
        with start_sample_app(display, tmp_path / "state.json") as app:
            app.wait_for(lambda s: s["saves"] == 1)        # await app.wait_for_async(...)

Xvfb chooses a free display number itself (``-displayfd``), so tests can run in parallel
and next to a developer's own X session.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SAMPLE_EHR = Path(__file__).resolve().parent / "sample_ehr.py"

State = dict[str, Any]


@dataclass(frozen=True)
class XvfbDisplay:
    """A running Xvfb: ``name`` is what goes into ``DISPLAY``."""

    name: str
    width: int
    height: int
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        """The current environment with DISPLAY pointing at this server."""
        return {**os.environ, "DISPLAY": self.name}


@dataclass(frozen=True)
class SampleApp:
    """The running sample EHR and its state file."""

    process: subprocess.Popen[bytes]
    state_file: Path

    def state(self) -> State:
        """The app's current state (see devkit/sample_ehr.py)."""
        return read_state(self.state_file)

    def center(self, widget: str) -> tuple[int, int]:
        """Screen coordinates of the middle of a widget named in the state's geometry."""
        x, y, w, h = self.state()["geometry"][widget]
        return x + w // 2, y + h // 2

    def wait_for(self, predicate: Callable[[State], bool], timeout: float = 5.0) -> State:
        """Wait until the state satisfies ``predicate``; return it.

        Blocks the thread: in an async test whose agent runs on the same event loop, use
        ``wait_for_async``, or the agent cannot inject while this waits.
        """
        return wait_for_state(self.state_file, predicate, timeout)

    async def wait_for_async(
        self, predicate: Callable[[State], bool], timeout: float = 5.0
    ) -> State:
        """``wait_for`` that lets the event loop run (an in-process agent) while it waits."""
        return await wait_for_state_async(self.state_file, predicate, timeout)


def read_state(path: Path) -> State:
    """Read the sample app's JSON state file (written atomically, so never partial)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: state is not a JSON object")
    return data


def wait_for_state(path: Path, predicate: Callable[[State], bool], timeout: float = 5.0) -> State:
    """Poll the state file until ``predicate`` holds.

    Raises:
        TimeoutError: with the last state seen, so a failing test shows what it got.
    """
    deadline = time.monotonic() + timeout
    last: State | None = None
    while True:
        if path.exists():
            last = read_state(path)
            if predicate(last):
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"state never matched within {timeout} s; last state: {last}")
        time.sleep(0.02)


async def wait_for_state_async(
    path: Path, predicate: Callable[[State], bool], timeout: float = 5.0
) -> State:
    """``wait_for_state`` polling with ``asyncio.sleep``."""
    deadline = time.monotonic() + timeout
    last: State | None = None
    while True:
        if path.exists():
            last = read_state(path)
            if predicate(last):
                return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"state never matched within {timeout} s; last state: {last}")
        await asyncio.sleep(0.02)


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("Xvfb did not report its display number in time")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 64)
        if not chunk:  # Xvfb exited before writing its number.
            proc.wait(timeout=5)
            raise RuntimeError(f"Xvfb exited with status {proc.returncode}")
        data += chunk
    return int(data.strip())


def _wait_accepting(name: str, timeout: float) -> None:
    from Xlib import display as xdisplay
    from Xlib import error as xerror

    deadline = time.monotonic() + timeout
    while True:
        try:
            xdisplay.Display(name).close()
            return
        except (xerror.DisplayError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _log_tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


@contextmanager
def start_xvfb(
    width: int = 1280, height: int = 720, depth: int = 24, timeout: float = 10.0
) -> Iterator[XvfbDisplay]:
    """Start a private Xvfb on a free display number; stop it on exit.

    Raises:
        RuntimeError: Xvfb is missing or did not start (its messages are included).
    """
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    f"{width}x{height}x{depth}",
                    "-nolisten",
                    "tcp",
                    # A server reset when the last client leaves would drop keymap changes
                    # and race with the next client connecting.
                    "-noreset",
                ],
                pass_fds=(write_fd,),
                # Its own session: a Ctrl-C in the demo's terminal must not kill the display
                # before the agent and app on it have stopped in order.
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        except FileNotFoundError as exc:
            os.close(read_fd)
            os.close(write_fd)
            raise RuntimeError("Xvfb is not installed (Debian: apt install xvfb)") from exc
        os.close(write_fd)
        try:
            try:
                number = _read_display_number(read_fd, proc, timeout)
                name = f":{number}"
                _wait_accepting(name, timeout)
            except Exception as exc:
                raise RuntimeError(f"Xvfb did not start: {exc}\n{_log_tail(log)}") from exc
            yield XvfbDisplay(name, width, height, proc)
        finally:
            os.close(read_fd)
            _stop(proc)


def _viewable_windows(display_name: str) -> int:
    from Xlib import X
    from Xlib import display as xdisplay

    conn = xdisplay.Display(display_name)
    try:
        children = conn.screen().root.query_tree().children
        return sum(1 for w in children if w.get_attributes().map_state == X.IsViewable)
    finally:
        conn.close()


def _app_env(display_name: str, extra: Mapping[str, str]) -> dict[str, str]:
    env = {**os.environ, "DISPLAY": display_name, **extra}
    return {key: value for key, value in env.items() if value}


@contextmanager
def start_sample_app(
    display: XvfbDisplay | str,
    state_file: Path,
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[SampleApp]:
    """Start devkit/sample_ehr.py on ``display``; wait until it is mapped and ready.

    ``env`` adds to (or, with an empty value, clears from) the app's environment: an IME's
    ``XMODIFIERS`` and locale (see devkit/ime.py).

    Ready means: the state file exists (the app writes it only once its window is
    visible, with the notes field focused) and a top-level window is viewable.

    Raises:
        RuntimeError: the app exited or was not ready in time (its messages are included).
    """
    name = display if isinstance(display, str) else display.name
    state_file.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, str(SAMPLE_EHR), "--state-file", str(state_file)],
            env=_app_env(name, env or {}),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + timeout
            while not (state_file.exists() and _viewable_windows(name)):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"sample app exited with status {proc.returncode}\n{_log_tail(log)}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sample app not ready in {timeout} s\n{_log_tail(log)}")
                time.sleep(0.05)
            yield SampleApp(proc, state_file)
        finally:
            _stop(proc)


# ---- several monitors ------------------------------------------------------------------
# Xvfb has one framebuffer and one output, but RandR 1.5 monitors are the server's own
# bookkeeping: ``SetMonitor`` defines monitors inside the framebuffer on any X server, and
# XRRGetMonitors (what desktops and the agent read) reports them. The first area takes the
# server's output, so the automatic whole-screen monitor is no longer listed. mss lists
# CRTCs and does not see them; the agent reads monitors itself (host_agent/video/monitors.py).

Area = tuple[int, int, int, int]  # left, top, width, height


def set_monitors(display_name: str, areas: list[Area]) -> None:
    """Make ``areas`` the display's RandR monitors (instead of those defined before), the
    first one primary.

    python-xlib's ``set_monitor`` cannot pack its own request (0.33), so it is sent here.
    """
    import struct

    from Xlib import display as xdisplay
    from Xlib.protocol import rq

    class _SetMonitor(rq.Request):  # type: ignore[misc]  # python-xlib is untyped
        _request = rq.Struct(
            rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Window("window"),
            rq.String8("info"),
        )  # fmt: skip

    from Xlib.ext import randr

    conn = xdisplay.Display(display_name)
    try:
        root = conn.screen().root
        # Replace, not add to, the monitors defined before (the automatic ones stay).
        for monitor in randr.get_monitors(root, False).monitors:
            if not monitor.automatic:
                randr.delete_monitor(root, monitor.name)
        conn.sync()
        outputs = list(root.xrandr_get_screen_resources().outputs)
        for index, (left, top, width, height) in enumerate(areas):
            owned = outputs if index == 0 else []
            info = struct.pack(
                "=IBBHhhHHII", conn.intern_atom(f"MAMORI-{index + 1}"), index == 0, 0,
                len(owned), left, top, width, height, width * 254 // 960, height * 254 // 960,
            ) + b"".join(struct.pack("=I", output) for output in owned)  # fmt: skip
            _SetMonitor(
                display=conn.display, opcode=conn.display.get_extension_major("RANDR"),
                window=root, info=info,
            )  # fmt: skip
        conn.sync()
    finally:
        conn.close()


@contextmanager
def start_multi_monitor_xvfb(areas: list[Area]) -> Iterator[XvfbDisplay]:
    """A private Xvfb whose framebuffer holds ``areas`` as RandR monitors (e.g. a 1024x768
    monitor beside a 640x480 one: ``[(0, 0, 1024, 768), (1024, 0, 640, 480)]``)."""
    width = max(left + w for left, _, w, _ in areas)
    height = max(top + h for _, top, _, h in areas)
    with start_xvfb(width, height) as display:
        set_monitors(display.name, areas)
        yield display


def set_keyboard_layout(display: XvfbDisplay | str, layout: str) -> None:
    """Give the display's keyboard an X layout ("us", or "jp" as on a Japanese clinic PC).

    A "jp" layout uses the jp106 model, whose keymap has every JIS key (半角/全角, 変換,
    無変換, カタカナ/ひらがな, ろ, ¥) on its own keycode; Xvfb's default is "us" on pc105.

    Raises:
        RuntimeError: setxkbmap is missing (Debian: x11-xkb-utils) or refused the layout.
    """
    name = display if isinstance(display, str) else display.name
    model = "jp106" if layout == "jp" else "pc105"
    try:
        done = subprocess.run(
            ["setxkbmap", "-display", name, "-model", model, "-layout", layout],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RuntimeError("setxkbmap is not installed (Debian: x11-xkb-utils)") from exc
    if done.returncode != 0:
        raise RuntimeError(f"setxkbmap {layout} failed: {done.stderr.decode(errors='replace')}")
