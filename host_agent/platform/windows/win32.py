"""The thin module: every Win32, DXGI and Direct3D 11 call of the Windows backend, and nothing
that decides anything.

What lives here: ctypes structures with their Windows x64 layouts, constants, function
prototypes, COM vtable calls, and small classes that implement the Protocols below by calling
them one to one. Everything with a rule in it (which error means "try again", where a click
lands, which session gets the worker, when the privacy screen may go up) lives in the pure
modules beside this one, which take these Protocols as parameters. The Linux tests drive
those modules through fakes of the Protocols (``tests/host_agent/windows/fakes.py``).

Import on any system: the structures and Protocols are plain ctypes and typing, so Linux
imports them for the tests; every binding to a DLL sits under ``sys.platform == "win32"``,
so ``mypy --platform win32`` checks it and Linux never executes it. The ``*_api()``
factories at the end raise ``Win32Error`` elsewhere.

Nothing below has run on Windows in this project's CI: the layouts are checked against the
SDK's sizes in the tests, the vtable indices against the SDK headers' method order (dxgi.h,
dxgi1_2.h, d3d11.h), and the rest waits for the manual check-list in the README.

This module is longer than the ~400 lines the project aims at: it is a declaration file, and
keeping every call to Windows in one file is the point (one place to audit what the agent
asks of the system).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from host_agent.platform.windows.errors import Win32Error

Pixels = npt.NDArray[np.uint8]

# -- structures (Windows x64 layouts, fixed-width so that Linux builds the same bytes) -------

_DWORD = ctypes.c_uint32
_LONG = ctypes.c_int32
_WORD = ctypes.c_uint16
_ULONG_PTR = ctypes.c_size_t  # pointer-sized: 8 bytes on x64 Windows and on x86-64 Linux


class MOUSEINPUT(ctypes.Structure):
    _fields_ = (
        ("dx", _LONG),
        ("dy", _LONG),
        ("mouseData", _DWORD),
        ("dwFlags", _DWORD),
        ("time", _DWORD),
        ("dwExtraInfo", _ULONG_PTR),
    )


class KEYBDINPUT(ctypes.Structure):
    _fields_ = (
        ("wVk", _WORD),
        ("wScan", _WORD),
        ("dwFlags", _DWORD),
        ("time", _DWORD),
        ("dwExtraInfo", _ULONG_PTR),
    )


class HARDWAREINPUT(ctypes.Structure):
    _fields_ = (("uMsg", _DWORD), ("wParamL", _WORD), ("wParamH", _WORD))


class _INPUT_UNION(ctypes.Union):
    _fields_ = (("mi", MOUSEINPUT), ("ki", KEYBDINPUT), ("hi", HARDWAREINPUT))


class INPUT(ctypes.Structure):
    """winuser.h ``INPUT``: 40 bytes on x64 (``sizeof(INPUT)`` is what SendInput checks)."""

    _anonymous_ = ("u",)
    _fields_ = (("type", _DWORD), ("u", _INPUT_UNION))


INPUT_MOUSE: Final = 0
INPUT_KEYBOARD: Final = 1

KEYEVENTF_EXTENDEDKEY: Final = 0x0001
KEYEVENTF_KEYUP: Final = 0x0002
KEYEVENTF_UNICODE: Final = 0x0004
KEYEVENTF_SCANCODE: Final = 0x0008

MOUSEEVENTF_MOVE: Final = 0x0001
MOUSEEVENTF_LEFTDOWN: Final = 0x0002
MOUSEEVENTF_LEFTUP: Final = 0x0004
MOUSEEVENTF_RIGHTDOWN: Final = 0x0008
MOUSEEVENTF_RIGHTUP: Final = 0x0010
MOUSEEVENTF_MIDDLEDOWN: Final = 0x0020
MOUSEEVENTF_MIDDLEUP: Final = 0x0040
MOUSEEVENTF_XDOWN: Final = 0x0080
MOUSEEVENTF_XUP: Final = 0x0100
MOUSEEVENTF_WHEEL: Final = 0x0800
MOUSEEVENTF_HWHEEL: Final = 0x1000
MOUSEEVENTF_VIRTUALDESK: Final = 0x4000
MOUSEEVENTF_ABSOLUTE: Final = 0x8000
WHEEL_DELTA: Final = 120
XBUTTON1: Final = 0x0001
XBUTTON2: Final = 0x0002

# dwExtraInfo of every event this agent injects: the privacy screen's low-level hooks let
# these through and swallow the rest (physical keys, other injectors). "MMRI".
MAMORI_INPUT_TAG: Final = 0x4D4D5249
# KBDLLHOOKSTRUCT.flags / MSLLHOOKSTRUCT.flags: the event was injected (SendInput).
LLKHF_INJECTED: Final = 0x10
LLMHF_INJECTED: Final = 0x01

# SetWindowDisplayAffinity (winuser.h); EXCLUDEFROMCAPTURE needs Windows 10 2004 (19041).
WDA_NONE: Final = 0x00
WDA_MONITOR: Final = 0x01
WDA_EXCLUDEFROMCAPTURE: Final = 0x11

# HRESULTs (winerror.h), unsigned.
S_OK: Final = 0
E_ACCESSDENIED: Final = 0x80070005
E_INVALIDARG: Final = 0x80070057
DXGI_ERROR_INVALID_CALL: Final = 0x887A0001
DXGI_ERROR_NOT_FOUND: Final = 0x887A0002
DXGI_ERROR_MORE_DATA: Final = 0x887A0003
DXGI_ERROR_UNSUPPORTED: Final = 0x887A0004
DXGI_ERROR_DEVICE_REMOVED: Final = 0x887A0005
DXGI_ERROR_DEVICE_RESET: Final = 0x887A0007
DXGI_ERROR_NOT_CURRENTLY_AVAILABLE: Final = 0x887A0022
DXGI_ERROR_ACCESS_LOST: Final = 0x887A0026
DXGI_ERROR_WAIT_TIMEOUT: Final = 0x887A0027
DXGI_ERROR_SESSION_DISCONNECTED: Final = 0x887A0028

# DXGI_MODE_ROTATION
ROTATION_UNSPECIFIED: Final = 0
ROTATION_IDENTITY: Final = 1
# DXGI_OUTDUPL_POINTER_SHAPE_TYPE
POINTER_MONOCHROME: Final = 1
POINTER_COLOR: Final = 2
POINTER_MASKED_COLOR: Final = 4

# WM_WTSSESSION_CHANGE / SERVICE_CONTROL_SESSIONCHANGE event types (winuser.h).
WTS_CONSOLE_CONNECT: Final = 0x1
WTS_CONSOLE_DISCONNECT: Final = 0x2
WTS_REMOTE_CONNECT: Final = 0x3
WTS_REMOTE_DISCONNECT: Final = 0x4
WTS_SESSION_LOGON: Final = 0x5
WTS_SESSION_LOGOFF: Final = 0x6
WTS_SESSION_LOCK: Final = 0x7
WTS_SESSION_UNLOCK: Final = 0x8
# WTSGetActiveConsoleSessionId when no session is attached to the console (a switch).
NO_CONSOLE_SESSION: Final = 0xFFFFFFFF

# Service states (winsvc.h).
SERVICE_STOPPED: Final = 1
SERVICE_START_PENDING: Final = 2
SERVICE_STOP_PENDING: Final = 3
SERVICE_RUNNING: Final = 4


# -- values the Protocols exchange ----------------------------------------------------------


class Box(NamedTuple):
    """A Win32 ``RECT``: right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True)
class OutputInfo:
    """One monitor as DXGI enumerates it (``DXGI_OUTPUT_DESC``), in physical pixels."""

    adapter: int
    output: int
    device_name: str  # "\\\\.\\DISPLAY1": stable while the monitor stays plugged in
    desktop: Box  # virtual-desktop coordinates
    attached: bool
    rotation: int


@dataclass(frozen=True)
class DuplicationDesc:
    """``DXGI_OUTDUPL_DESC``: the desktop image's size and rotation."""

    width: int
    height: int
    rotation: int
    in_system_memory: bool


@dataclass(frozen=True)
class FrameInfo:
    """``DXGI_OUTDUPL_FRAME_INFO`` of one acquired frame."""

    last_present_time: int  # 0: no new desktop image, only pointer news
    last_mouse_update_time: int  # 0: the pointer position did not change
    accumulated_frames: int
    rects_coalesced: bool
    protected_content_masked_out: bool
    pointer_x: int
    pointer_y: int
    pointer_visible: bool
    total_metadata_buffer_size: int  # 0: no dirty or move rectangles
    pointer_shape_buffer_size: int  # 0: the shape did not change


@dataclass(frozen=True)
class MoveRect:
    """``DXGI_OUTDUPL_MOVE_RECT``: the pixels at ``source`` now sit at ``destination``."""

    source_x: int
    source_y: int
    destination: Box


@dataclass(frozen=True)
class PointerShape:
    """``DXGI_OUTDUPL_POINTER_SHAPE_INFO`` and its buffer (see ``pointer.py``)."""

    kind: int
    width: int
    height: int  # for MONOCHROME: twice the cursor's height (AND mask, then XOR mask)
    pitch: int
    hot_x: int
    hot_y: int
    data: bytes


# -- the surface the pure modules take -------------------------------------------------------


class InputApi(Protocol):
    """SendInput and what it needs to know about the virtual desktop."""

    def send_input(self, inputs: Sequence[INPUT]) -> int:
        """Insert the events; returns how many were inserted (fewer: blocked or failed)."""
        ...

    def virtual_screen(self) -> Box:
        """The virtual desktop (GetSystemMetrics SM_[XY]VIRTUALSCREEN, SM_C[XY]...)."""
        ...

    def monitors(self) -> list[Box]:
        """Every monitor's rectangle (EnumDisplayMonitors)."""
        ...

    def send_sas(self) -> None:
        """Ctrl+Alt+Del (sas.dll SendSAS), as a service may."""
        ...


class DesktopApi(Protocol):
    """The input desktop, the console session and the process's DPI awareness."""

    def input_desktop_name(self) -> str | None:
        """ "Default", "Winlogon", "Screen-saver"...; None when it cannot be opened."""
        ...

    def attach_to_input_desktop(self) -> bool:
        """SetThreadDesktop(OpenInputDesktop()) for the calling thread."""
        ...

    def set_dpi_awareness(self) -> bool:
        """SetProcessDpiAwarenessContext(PER_MONITOR_AWARE_V2); False if refused."""
        ...

    def active_console_session(self) -> int:
        """WTSGetActiveConsoleSessionId (``NO_CONSOLE_SESSION`` during a switch)."""
        ...

    def current_session(self) -> int:
        """The session this process runs in (ProcessIdToSessionId)."""
        ...

    def windows_build(self) -> int:
        """The OS build number (RtlGetVersion: 19041 is Windows 10 2004)."""
        ...


class Duplication(Protocol):
    """One ``IDXGIOutputDuplication`` with its Direct3D device and a staging texture."""

    @property
    def description(self) -> DuplicationDesc: ...

    def acquire(self, timeout_ms: int) -> FrameInfo:
        """AcquireNextFrame. Raises ``Win32Error`` (WAIT_TIMEOUT, ACCESS_LOST...)."""
        ...

    def dirty_rects(self) -> list[Box]:
        """GetFrameDirtyRects of the acquired frame."""
        ...

    def move_rects(self) -> list[MoveRect]:
        """GetFrameMoveRects of the acquired frame."""
        ...

    def pointer_shape(self) -> PointerShape:
        """GetFramePointerShape of the acquired frame."""
        ...

    def read(self, boxes: Sequence[Box]) -> list[Pixels]:
        """The acquired image's pixels in ``boxes`` (CopySubresourceRegion into the
        staging texture, Map, copy, Unmap), each a (height, width, 4) BGRA array."""
        ...

    def release_frame(self) -> None:
        """ReleaseFrame (also when reading failed)."""
        ...

    def close(self) -> None: ...


class DuplicationApi(Protocol):
    """DXGI enumeration and IDXGIOutput1::DuplicateOutput."""

    def outputs(self) -> list[OutputInfo]: ...

    def duplicate(self, output: OutputInfo) -> Duplication:
        """Raises ``Win32Error`` (UNSUPPORTED, NOT_CURRENTLY_AVAILABLE, E_ACCESSDENIED...)."""
        ...


def _not_windows(what: str) -> Win32Error:
    return Win32Error(what, 0, f"Windows only, this is {sys.platform}")
