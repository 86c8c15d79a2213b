"""Fakes of the thin module's Protocols (``host_agent.platform.windows.win32``).

They stand in for Windows itself, so they hold no logic of the backend: they record what
the pure code asks for (the bytes of every ``INPUT``, every attach, every launch) and
replay what a test scripts (desktop names, DXGI frames and errors). Windows cannot run
here; what these fakes prove is what the pure code does with Windows' answers, never that
Windows answers that way.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from host_agent.platform.windows import win32
from host_agent.platform.windows.errors import Win32Error
from host_agent.platform.windows.win32 import (
    INPUT,
    Box,
    DuplicationDesc,
    FrameInfo,
    MoveRect,
    OutputInfo,
    PointerShape,
)


def decode(raw: bytes) -> dict[str, int]:
    """One ``INPUT`` as SendInput would read it from memory: every field of its kind."""
    event = INPUT.from_buffer_copy(raw)
    if event.type == win32.INPUT_KEYBOARD:
        ki = event.ki
        return {
            "type": event.type,
            "wVk": ki.wVk,
            "wScan": ki.wScan,
            "dwFlags": ki.dwFlags,
            "time": ki.time,
            "dwExtraInfo": ki.dwExtraInfo,
        }
    mi = event.mi
    return {
        "type": event.type,
        "dx": mi.dx,
        "dy": mi.dy,
        "mouseData": mi.mouseData,
        "dwFlags": mi.dwFlags,
        "time": mi.time,
        "dwExtraInfo": mi.dwExtraInfo,
    }


class FakeInputApi:
    """Records the bytes of each SendInput call; ``accept`` limits how many it inserts."""

    def __init__(self, screen: Box, monitors: list[Box]) -> None:
        self.screen = screen
        self.monitor_boxes = monitors
        self.calls: list[list[bytes]] = []
        self.accept: list[int] = []  # per call: how many to insert (default: all)
        self.sas = 0
        self.sas_error: int | None = None

    def send_input(self, inputs: Sequence[INPUT]) -> int:
        assert all(ctypes.sizeof(event) == 40 for event in inputs)
        self.calls.append([bytes(event) for event in inputs])
        return min(self.accept.pop(0), len(inputs)) if self.accept else len(inputs)

    def virtual_screen(self) -> Box:
        return self.screen

    def monitors(self) -> list[Box]:
        return list(self.monitor_boxes)

    def send_sas(self) -> None:
        if self.sas_error is not None:
            raise Win32Error("SendSAS", self.sas_error)
        self.sas += 1

    @property
    def sent(self) -> list[dict[str, int]]:
        """Every structure sent so far, decoded, in order."""
        return [decode(raw) for call in self.calls for raw in call]


class FakeDesktopApi:
    """Answers the input desktop's name from ``names`` (the last one repeats)."""

    def __init__(self, *names: str | None, build: int = 19045, dpi_ok: bool = True) -> None:
        self.names: list[str | None] = list(names) or ["Default"]
        self.attaches = 0
        self.attach_ok = True
        self.build = build
        self.dpi_ok = dpi_ok
        self.console = 1
        self.session = 1
        self.dpi_requests = 0

    def input_desktop_name(self) -> str | None:
        return self.names.pop(0) if len(self.names) > 1 else self.names[0]

    def attach_to_input_desktop(self) -> bool:
        self.attaches += 1
        return self.attach_ok

    def set_dpi_awareness(self) -> bool:
        self.dpi_requests += 1
        return self.dpi_ok

    def active_console_session(self) -> int:
        return self.console

    def current_session(self) -> int:
        return self.session

    def windows_build(self) -> int:
        return self.build


# -- DXGI ------------------------------------------------------------------------------------


def frame_info(
    *,
    present: bool = True,
    metadata: bool = True,
    pointer: tuple[int, int, bool] | None = None,
    shape: int = 0,
) -> FrameInfo:
    """A ``DXGI_OUTDUPL_FRAME_INFO`` with the fields a script cares about."""
    x, y, visible = pointer or (0, 0, False)
    return FrameInfo(
        last_present_time=1000 if present else 0,
        last_mouse_update_time=1000 if pointer else 0,
        accumulated_frames=1 if present else 0,
        rects_coalesced=False,
        protected_content_masked_out=False,
        pointer_x=x,
        pointer_y=y,
        pointer_visible=visible,
        total_metadata_buffer_size=64 if (present and metadata) else 0,
        pointer_shape_buffer_size=shape,
    )


@dataclass
class Frame:
    """One scripted AcquireNextFrame: the screen is changed by ``paint`` before it returns.

    ``error`` makes AcquireNextFrame fail with that HRESULT instead (WAIT_TIMEOUT,
    ACCESS_LOST...).
    """

    info: FrameInfo | None = None
    dirty: list[Box] = field(default_factory=list)
    moves: list[MoveRect] = field(default_factory=list)
    shape: PointerShape | None = None
    paint: Any = None  # callable(screen array) -> None
    error: int | None = None
    read_error: int | None = None  # the pixel read fails with this HRESULT
    release_error: int | None = None  # ReleaseFrame fails with this HRESULT


class FakeScreen:
    """The monitors' pixels: one BGRA array per output, painted by scripts."""

    def __init__(self, outputs: list[OutputInfo]) -> None:
        self.outputs = outputs
        self.pixels = {
            o.device_name: np.zeros((o.desktop.height, o.desktop.width, 4), np.uint8)
            for o in outputs
        }


class FakeDuplication:
    """One duplication: replays its API's script, reads from the fake screen."""

    def __init__(self, api: FakeDuplicationApi, output: OutputInfo) -> None:
        self._api = api
        self.output = output
        self._frame: Frame | None = None
        self.closed = False
        self.released = 0

    @property
    def description(self) -> DuplicationDesc:
        box = self.output.desktop
        width, height = self._api.describe_as or (box.width, box.height)
        return DuplicationDesc(width, height, self.output.rotation, False)

    def acquire(self, timeout_ms: int) -> FrameInfo:
        assert self._frame is None, "AcquireNextFrame twice without ReleaseFrame"
        assert not self.closed
        script = self._api.script_of(self.output.device_name)
        if not script:
            # AcquireNextFrame waits out its timeout when nothing is drawn.
            time.sleep(min(timeout_ms / 1000, self._api.timeout_sleep_s))
        timeout = Frame(error=win32.DXGI_ERROR_WAIT_TIMEOUT)
        frame = script.pop(0) if script else timeout
        self._api.acquired += 1
        if frame.error is not None:
            raise Win32Error("AcquireNextFrame", frame.error)
        if frame.paint is not None:
            frame.paint(self._api.screen.pixels[self.output.device_name])
        self._frame = frame
        assert frame.info is not None
        return frame.info

    def dirty_rects(self) -> list[Box]:
        assert self._frame is not None
        return list(self._frame.dirty)

    def move_rects(self) -> list[MoveRect]:
        assert self._frame is not None
        return list(self._frame.moves)

    def pointer_shape(self) -> PointerShape:
        assert self._frame is not None
        assert self._frame.shape is not None
        return self._frame.shape

    def read(self, boxes: Sequence[Box]) -> list[np.ndarray]:
        assert self._frame is not None
        if self._frame.read_error is not None:
            raise Win32Error("Map", self._frame.read_error)
        self._api.reads.append(list(boxes))
        self._api.reads_of.setdefault(self.output.device_name, []).append(list(boxes))
        pixels = self._api.screen.pixels[self.output.device_name]
        return [pixels[b.top : b.bottom, b.left : b.right].copy() for b in boxes]

    def release_frame(self) -> None:
        frame, self._frame = self._frame, None
        self.released += 1
        if frame is not None and frame.release_error is not None:
            raise Win32Error("ReleaseFrame", frame.release_error)

    def close(self) -> None:
        self.closed = True


class FakeDuplicationApi:
    """DXGI: outputs that can be unplugged, duplications that replay ``script`` (or, for an
    output named in ``scripts``, its own script: one monitor's frames, for several)."""

    def __init__(self, screen: FakeScreen) -> None:
        self.screen = screen
        self.script: list[Frame] = []
        self.scripts: dict[str, list[Frame]] = {}
        self.reads_of: dict[str, list[list[Box]]] = {}
        self.duplicate_errors: list[int] = []  # the next DuplicateOutput calls fail so
        self.duplications: list[FakeDuplication] = []
        self.reads: list[list[Box]] = []
        self.acquired = 0
        self.unplugged: set[str] = set()
        self.timeout_sleep_s = 0.0  # how long an empty script's timeout takes
        self.describe_as: tuple[int, int] | None = None  # DXGI_OUTDUPL_DESC's size, if odd

    def script_of(self, device_name: str) -> list[Frame]:
        return self.scripts.get(device_name, self.script)

    def outputs(self) -> list[OutputInfo]:
        return [o for o in self.screen.outputs if o.device_name not in self.unplugged]

    def duplicate(self, output: OutputInfo) -> FakeDuplication:
        if output.device_name in self.unplugged:
            raise Win32Error("DuplicateOutput", win32.DXGI_ERROR_NOT_FOUND)
        if self.duplicate_errors:
            raise Win32Error("DuplicateOutput", self.duplicate_errors.pop(0))
        duplication = FakeDuplication(self, output)
        self.duplications.append(duplication)
        return duplication


# -- overlays and hooks ------------------------------------------------------------------------


@dataclass
class Shown:
    box: Box
    bgra: np.ndarray
    exclude_from_capture: bool
    closed: bool = False


class FakeOverlayApi:
    """Records windows and the input filter; ``affinity_ok`` plays Windows' confirmation."""

    def __init__(self) -> None:
        self.windows: dict[int, Shown] = {}
        self.allow: Any = None
        self.affinity_ok = True
        self.hooks_ok = True
        self.show_error: int | None = None

    def show(self, box: Box, bgra: np.ndarray, exclude_from_capture: bool) -> int:
        if self.show_error is not None:
            raise Win32Error("CreateWindowExW", self.show_error)
        handle = 0x1000 + len(self.windows)
        self.windows[handle] = Shown(box, bgra, exclude_from_capture)
        return handle

    def affinity(self, window: int) -> int:
        shown = self.windows[window]
        if shown.exclude_from_capture and self.affinity_ok:
            return win32.WDA_EXCLUDEFROMCAPTURE
        return win32.WDA_NONE

    def close(self, window: int) -> None:
        self.windows[window].closed = True

    def filter_input(self, allow: Any) -> bool:
        if allow is not None and not self.hooks_ok:
            return False
        self.allow = allow
        return True

    @property
    def open(self) -> list[Shown]:
        return [w for w in self.windows.values() if not w.closed]


# -- the service manager ----------------------------------------------------------------------


class FakeProcess:
    """A worker: ends when its stop event is signalled (unless ``stubborn``) or when ended."""

    def __init__(self, api: FakeServiceApi, session: int, command_line: str, pid: int) -> None:
        self.api = api
        self.session = session
        self.command_line = command_line
        self._pid = pid
        self.status: int | None = None
        self.stubborn = False
        self.terminated = False

    @property
    def pid(self) -> int:
        return self._pid

    def wait(self, timeout_s: float) -> int | None:
        event = self.command_line.split("--stop-event ", 1)[1].split(" ", 1)[0]
        if self.status is None and event in self.api.signalled and not self.stubborn:
            self.status = 0
        return self.status

    def terminate(self) -> None:
        self.terminated = True
        self.status = 1


class FakeServiceApi:
    """The service manager, registry and CreateProcessAsUser, as records."""

    def __init__(self, state: int | None = None, admin: bool = True) -> None:
        self.state = state
        self.admin = admin
        self.calls: list[tuple[Any, ...]] = []
        self.processes: list[FakeProcess] = []
        self.events: list[str] = []
        self.signalled: set[str] = set()
        self.launch_error: int | None = None

    def is_admin(self) -> bool:
        return self.admin

    def service_state(self, name: str) -> int | None:
        return self.state

    def create_service(self, name: str, display: str, command_line: str, text: str) -> None:
        self.calls.append(("create", name, command_line))
        self.state = win32.SERVICE_STOPPED

    def update_service(self, name: str, command_line: str) -> None:
        self.calls.append(("update", name, command_line))

    def set_recovery(self, name: str, delays: Sequence[int]) -> None:
        self.calls.append(("recovery", name, tuple(delays)))

    def delete_service(self, name: str) -> None:
        self.calls.append(("delete", name))
        self.state = None

    def start_service(self, name: str) -> None:
        self.calls.append(("start", name))
        self.state = win32.SERVICE_RUNNING

    def stop_service(self, name: str) -> None:
        self.calls.append(("stop", name))
        self.state = win32.SERVICE_STOPPED

    def set_policy(self, key: str, value_name: str, value: int) -> None:
        self.calls.append(("policy", key, value_name, value))

    def restrict_directory(self, path: str) -> None:
        self.calls.append(("restrict", path))

    def run_service(self, name: str, main: Any) -> None:
        raise AssertionError("the tests run the supervisor directly")

    def launch_in_session(self, session_id: int, command_line: str) -> FakeProcess:
        if self.launch_error is not None:
            raise Win32Error("CreateProcessAsUserW", self.launch_error)
        process = FakeProcess(self, session_id, command_line, 100 + len(self.processes))
        self.processes.append(process)
        return process

    def create_event(self, name: str) -> None:
        self.events.append(name)

    def signal_event(self, name: str) -> None:
        self.signalled.add(name)

    def wait_event(self, name: str, timeout_s: float) -> bool:
        return name in self.signalled


class FakeHost:
    """The service manager's side of a running service: scripted controls, a clock that
    moves by each wait. When the script ends, the service is told to stop."""

    def __init__(self, clock: Any, script: list[Any]) -> None:
        self.clock = clock
        self.script = script
        self.statuses: list[int] = []

    def set_status(self, state: int) -> None:
        self.statuses.append(state)

    def next_control(self, timeout_s: float) -> tuple[int, int, int] | None:
        self.clock.now += timeout_s
        if not self.script:
            return (win32.SERVICE_CONTROL_STOP, 0, 0)
        item = self.script.pop(0)
        if callable(item):
            item()
            return None
        return item  # type: ignore[no-any-return]
