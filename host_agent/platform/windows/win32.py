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
from collections.abc import Callable, Sequence
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

# Service controls and states (winsvc.h).
SERVICE_CONTROL_STOP: Final = 0x01
SERVICE_CONTROL_SHUTDOWN: Final = 0x05
SERVICE_CONTROL_SESSIONCHANGE: Final = 0x0E
SERVICE_STOPPED: Final = 1
SERVICE_START_PENDING: Final = 2
SERVICE_STOP_PENDING: Final = 3
SERVICE_RUNNING: Final = 4


# DXGI and Direct3D 11 structures (dxgi.h, dxgi1_2.h, d3d11.h); WCHAR as 16-bit units.


class RECT(ctypes.Structure):
    _fields_ = (("left", _LONG), ("top", _LONG), ("right", _LONG), ("bottom", _LONG))


class POINT(ctypes.Structure):
    _fields_ = (("x", _LONG), ("y", _LONG))


class GUID(ctypes.Structure):
    _fields_ = (
        ("Data1", _DWORD),
        ("Data2", _WORD),
        ("Data3", _WORD),
        ("Data4", ctypes.c_uint8 * 8),
    )


class DXGI_OUTPUT_DESC(ctypes.Structure):
    _fields_ = (
        ("DeviceName", _WORD * 32),
        ("DesktopCoordinates", RECT),
        ("AttachedToDesktop", _LONG),
        ("Rotation", _DWORD),
        ("Monitor", ctypes.c_void_p),
    )


class DXGI_OUTDUPL_POINTER_POSITION(ctypes.Structure):
    _fields_ = (("Position", POINT), ("Visible", _LONG))


class DXGI_OUTDUPL_FRAME_INFO(ctypes.Structure):
    _fields_ = (
        ("LastPresentTime", ctypes.c_int64),
        ("LastMouseUpdateTime", ctypes.c_int64),
        ("AccumulatedFrames", _DWORD),
        ("RectsCoalesced", _LONG),
        ("ProtectedContentMaskedOut", _LONG),
        ("PointerPosition", DXGI_OUTDUPL_POINTER_POSITION),
        ("TotalMetadataBufferSize", _DWORD),
        ("PointerShapeBufferSize", _DWORD),
    )


class DXGI_OUTDUPL_MOVE_RECT(ctypes.Structure):
    _fields_ = (("SourcePoint", POINT), ("DestinationRect", RECT))


class DXGI_OUTDUPL_POINTER_SHAPE_INFO(ctypes.Structure):
    _fields_ = (
        ("Type", _DWORD),
        ("Width", _DWORD),
        ("Height", _DWORD),
        ("Pitch", _DWORD),
        ("HotSpot", POINT),
    )


class DXGI_OUTDUPL_DESC(ctypes.Structure):
    _fields_ = (
        ("Width", _DWORD),  # DXGI_MODE_DESC, flattened
        ("Height", _DWORD),
        ("RefreshNumerator", _DWORD),
        ("RefreshDenominator", _DWORD),
        ("Format", _DWORD),
        ("ScanlineOrdering", _DWORD),
        ("Scaling", _DWORD),
        ("Rotation", _DWORD),
        ("DesktopImageInSystemMemory", _LONG),
    )


class D3D11_TEXTURE2D_DESC(ctypes.Structure):
    _fields_ = (
        ("Width", _DWORD),
        ("Height", _DWORD),
        ("MipLevels", _DWORD),
        ("ArraySize", _DWORD),
        ("Format", _DWORD),
        ("SampleCount", _DWORD),  # DXGI_SAMPLE_DESC, flattened
        ("SampleQuality", _DWORD),
        ("Usage", _DWORD),
        ("BindFlags", _DWORD),
        ("CPUAccessFlags", _DWORD),
        ("MiscFlags", _DWORD),
    )


class D3D11_BOX(ctypes.Structure):
    _fields_ = tuple((name, _DWORD) for name in ("left", "top", "front", "right", "bottom", "back"))


class D3D11_MAPPED_SUBRESOURCE(ctypes.Structure):
    _fields_ = (("pData", ctypes.c_void_p), ("RowPitch", _DWORD), ("DepthPitch", _DWORD))


# The SDK's sizes on x64, which the tests hold these layouts to.
SDK_SIZES: Final[dict[type[ctypes.Structure], int]] = {
    INPUT: 40,
    MOUSEINPUT: 32,
    KEYBDINPUT: 24,
    RECT: 16,
    GUID: 16,
    DXGI_OUTPUT_DESC: 96,
    DXGI_OUTDUPL_FRAME_INFO: 48,
    DXGI_OUTDUPL_MOVE_RECT: 24,
    DXGI_OUTDUPL_POINTER_SHAPE_INFO: 24,
    DXGI_OUTDUPL_DESC: 36,
    D3D11_TEXTURE2D_DESC: 44,
    D3D11_BOX: 24,
    D3D11_MAPPED_SUBRESOURCE: 16,
}

# COM interface identifiers and vtable slots (the method order of the SDK headers:
# IUnknown 0-2, IDXGIObject 3-6, then each interface's own methods in declaration order).
IID_IDXGIFactory1: Final = "770aae78-f26f-4dba-a829-253c83d1b387"
IID_IDXGIOutput1: Final = "00cddea8-939b-4b83-a340-a685226666cc"
IID_ID3D11Texture2D: Final = "6f15aaf2-d208-4e89-9ab4-489535d34f9c"
SLOT_QUERY_INTERFACE: Final = 0
SLOT_RELEASE: Final = 2
SLOT_FACTORY1_ENUM_ADAPTERS1: Final = 12
SLOT_ADAPTER_ENUM_OUTPUTS: Final = 7
SLOT_OUTPUT_GET_DESC: Final = 7
SLOT_OUTPUT1_DUPLICATE_OUTPUT: Final = 22
SLOT_DUPLICATION_GET_DESC: Final = 7
SLOT_DUPLICATION_ACQUIRE_NEXT_FRAME: Final = 8
SLOT_DUPLICATION_GET_FRAME_DIRTY_RECTS: Final = 9
SLOT_DUPLICATION_GET_FRAME_MOVE_RECTS: Final = 10
SLOT_DUPLICATION_GET_FRAME_POINTER_SHAPE: Final = 11
SLOT_DUPLICATION_RELEASE_FRAME: Final = 14
SLOT_DEVICE_CREATE_TEXTURE2D: Final = 5
SLOT_CONTEXT_MAP: Final = 14
SLOT_CONTEXT_UNMAP: Final = 15
SLOT_CONTEXT_COPY_SUBRESOURCE_REGION: Final = 46

D3D11_SDK_VERSION: Final = 7
D3D11_CREATE_DEVICE_BGRA_SUPPORT: Final = 0x20
D3D11_USAGE_STAGING: Final = 3
D3D11_CPU_ACCESS_READ: Final = 0x20000
D3D11_MAP_READ: Final = 1
DXGI_FORMAT_B8G8R8A8_UNORM: Final = 87
D3D_FEATURE_LEVELS: Final = (0xB000, 0xA100, 0xA000, 0x9300, 0x9200, 0x9100)


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


class OverlayApi(Protocol):
    """Topmost windows on the physical monitors and low-level input hooks, run by one GUI
    thread of the thin module's own (windows and hooks need a message loop)."""

    def show(self, box: Box, bgra: Pixels, exclude_from_capture: bool) -> int:
        """A topmost, click-through, never-activated window over ``box`` showing ``bgra``
        (UpdateLayeredWindow), kept topmost; ``exclude_from_capture`` sets
        ``WDA_EXCLUDEFROMCAPTURE``. Returns its handle. Raises ``Win32Error``."""
        ...

    def affinity(self, window: int) -> int:
        """GetWindowDisplayAffinity of a window shown here (-1 if it cannot be read)."""
        ...

    def close(self, window: int) -> None: ...

    def filter_input(self, allow: Callable[[bool, int], bool] | None) -> bool:
        """Install WH_KEYBOARD_LL and WH_MOUSE_LL hooks that drop every event for which
        ``allow(injected, dwExtraInfo)`` is False (None: remove them). False if refused."""
        ...


class WorkerProcess(Protocol):
    """A process the service started (CreateProcessAsUser)."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout_s: float) -> int | None:
        """Its exit status once it ended, waiting up to ``timeout_s``; None if still running."""
        ...

    def terminate(self) -> None: ...


class ServiceHost(Protocol):
    """What a running service talks to: the SCM's status and its control requests."""

    def set_status(self, state: int) -> None:
        """SetServiceStatus (``SERVICE_RUNNING``, ``SERVICE_STOP_PENDING``...)."""
        ...

    def next_control(self, timeout_s: float) -> tuple[int, int, int] | None:
        """The next control (code, event type, session id), or None after ``timeout_s``."""
        ...


class ServiceApi(Protocol):
    """The Service Control Manager, the registry policy, and the worker's process."""

    def is_admin(self) -> bool: ...

    def service_state(self, name: str) -> int | None:
        """``SERVICE_STOPPED``/``RUNNING``/...; None when not installed."""
        ...

    def create_service(
        self, name: str, display_name: str, command_line: str, description: str
    ) -> None:
        """CreateServiceW: own process, automatic start, LocalSystem."""
        ...

    def update_service(self, name: str, command_line: str) -> None:
        """ChangeServiceConfigW: a new binary path (the program moved or was updated)."""
        ...

    def set_recovery(self, name: str, restart_delays_ms: Sequence[int]) -> None:
        """ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS): restart after a crash."""
        ...

    def delete_service(self, name: str) -> None: ...

    def start_service(self, name: str) -> None: ...

    def stop_service(self, name: str) -> None: ...

    def set_policy(self, key: str, value_name: str, value: int) -> None:
        """A REG_DWORD under HKEY_LOCAL_MACHINE (64-bit view)."""
        ...

    def restrict_directory(self, path: str) -> None:
        """Only LocalSystem and Administrators may open ``path`` (icacls, no inheritance)."""
        ...

    def run_service(self, name: str, main: Callable[[ServiceHost], None]) -> None:
        """StartServiceCtrlDispatcherW: run ``main`` as the service until it returns."""
        ...

    def launch_in_session(self, session_id: int, command_line: str) -> WorkerProcess:
        """Start ``command_line`` as LocalSystem in ``session_id`` on ``winsta0\\default``."""
        ...

    def create_event(self, name: str) -> None:
        """A named manual-reset event (``Global\\...``), not signalled; kept open."""
        ...

    def signal_event(self, name: str) -> None: ...

    def wait_event(self, name: str, timeout_s: float) -> bool:
        """Whether the named event was signalled within ``timeout_s`` (False: not yet, or
        no such event)."""
        ...


def _not_windows(what: str) -> Win32Error:
    return Win32Error(what, 0, f"Windows only, this is {sys.platform}")


def input_api() -> InputApi:
    """SendInput and friends. Raises ``Win32Error`` off Windows."""
    if sys.platform == "win32":
        return _Input()
    raise _not_windows("input_api")


def desktop_api() -> DesktopApi:
    """Input desktop, sessions, DPI awareness. Raises ``Win32Error`` off Windows."""
    if sys.platform == "win32":
        return _Desktop()
    raise _not_windows("desktop_api")


def overlay_api() -> OverlayApi:
    """Overlay windows and input hooks. Raises ``Win32Error`` off Windows."""
    if sys.platform == "win32":
        return _Overlays()
    raise _not_windows("overlay_api")


def service_api() -> ServiceApi:
    """The Service Control Manager and friends. Raises ``Win32Error`` off Windows."""
    if sys.platform == "win32":
        return _Services()
    raise _not_windows("service_api")


def duplication_api() -> DuplicationApi:
    """DXGI Desktop Duplication. Raises ``Win32Error`` off Windows."""
    if sys.platform == "win32":
        return _Duplications()
    raise _not_windows("duplication_api")


# == the bindings: Windows only ==============================================================

if sys.platform == "win32":
    import threading
    import uuid
    from ctypes import wintypes
    from itertools import count
    from typing import Any

    _user32 = ctypes.WinDLL("user32", use_last_error=True)
    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _ntdll = ctypes.WinDLL("ntdll")
    _dxgi = ctypes.WinDLL("dxgi")
    _d3d11 = ctypes.WinDLL("d3d11")

    def _fn(dll: ctypes.WinDLL, name: str, restype: Any, *argtypes: Any) -> Any:
        function = getattr(dll, name)
        function.restype = restype
        function.argtypes = argtypes
        return function

    def _last_error(call: str) -> Win32Error:
        return Win32Error(call, ctypes.get_last_error())

    _HRESULT = ctypes.c_long
    _UINT = ctypes.c_uint32
    _PVOID = ctypes.c_void_p

    # -- user32, kernel32, ntdll, sas ------------------------------------------------------

    _SendInput = _fn(_user32, "SendInput", _UINT, _UINT, ctypes.POINTER(INPUT), ctypes.c_int)
    _GetSystemMetrics = _fn(_user32, "GetSystemMetrics", ctypes.c_int, ctypes.c_int)
    _MONITORENUMPROC = ctypes.WINFUNCTYPE(
        wintypes.BOOL, _PVOID, _PVOID, ctypes.POINTER(RECT), ctypes.c_ssize_t
    )
    _EnumDisplayMonitors = _fn(
        _user32, "EnumDisplayMonitors", wintypes.BOOL, _PVOID, _PVOID, _MONITORENUMPROC,
        ctypes.c_ssize_t,
    )  # fmt: skip
    _OpenInputDesktop = _fn(_user32, "OpenInputDesktop", _PVOID, _DWORD, wintypes.BOOL, _DWORD)
    _SetThreadDesktop = _fn(_user32, "SetThreadDesktop", wintypes.BOOL, _PVOID)
    _CloseDesktop = _fn(_user32, "CloseDesktop", wintypes.BOOL, _PVOID)
    _GetUserObjectInformationW = _fn(
        _user32, "GetUserObjectInformationW", wintypes.BOOL, _PVOID, ctypes.c_int, _PVOID,
        _DWORD, ctypes.POINTER(_DWORD),
    )  # fmt: skip
    _SetProcessDpiAwarenessContext = _fn(
        _user32, "SetProcessDpiAwarenessContext", wintypes.BOOL, ctypes.c_ssize_t
    )
    _WTSGetActiveConsoleSessionId = _fn(_kernel32, "WTSGetActiveConsoleSessionId", _DWORD)
    _ProcessIdToSessionId = _fn(
        _kernel32, "ProcessIdToSessionId", wintypes.BOOL, _DWORD, ctypes.POINTER(_DWORD)
    )
    _GetCurrentProcessId = _fn(_kernel32, "GetCurrentProcessId", _DWORD)

    class _OSVERSIONINFOW(ctypes.Structure):
        _fields_ = (
            ("dwOSVersionInfoSize", _DWORD),
            ("dwMajorVersion", _DWORD),
            ("dwMinorVersion", _DWORD),
            ("dwBuildNumber", _DWORD),
            ("dwPlatformId", _DWORD),
            ("szCSDVersion", _WORD * 128),
        )

    _RtlGetVersion = _fn(_ntdll, "RtlGetVersion", _LONG, ctypes.POINTER(_OSVERSIONINFOW))

    _SM_XVIRTUALSCREEN, _SM_YVIRTUALSCREEN = 76, 77
    _SM_CXVIRTUALSCREEN, _SM_CYVIRTUALSCREEN = 78, 79
    _UOI_NAME = 2
    _GENERIC_ALL = 0x10000000
    _DESKTOP_READOBJECTS = 0x0001
    _DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2 = -4

    class _Input:
        def send_input(self, inputs: Sequence[INPUT]) -> int:
            array = (INPUT * len(inputs))(*inputs)
            return int(_SendInput(len(inputs), array, ctypes.sizeof(INPUT)))

        def virtual_screen(self) -> Box:
            left = int(_GetSystemMetrics(_SM_XVIRTUALSCREEN))
            top = int(_GetSystemMetrics(_SM_YVIRTUALSCREEN))
            width = int(_GetSystemMetrics(_SM_CXVIRTUALSCREEN))
            height = int(_GetSystemMetrics(_SM_CYVIRTUALSCREEN))
            return Box(left, top, left + width, top + height)

        def monitors(self) -> list[Box]:
            found: list[Box] = []

            def each(monitor: Any, dc: Any, rect: Any, data: Any) -> int:
                r = rect.contents
                found.append(Box(r.left, r.top, r.right, r.bottom))
                return 1

            if not _EnumDisplayMonitors(None, None, _MONITORENUMPROC(each), 0):
                raise _last_error("EnumDisplayMonitors")
            return found

        def send_sas(self) -> None:
            try:
                sas = ctypes.WinDLL("sas")
            except OSError as exc:
                raise Win32Error("LoadLibrary(sas.dll)", exc.winerror or 0) from exc
            send = _fn(sas, "SendSAS", None, wintypes.BOOL)
            send(False)  # AsUser=FALSE: as the service (LocalSystem) it is

    class _Desktop:
        def __init__(self) -> None:
            self._held = threading.local()  # this thread's desktop handle

        def input_desktop_name(self) -> str | None:
            desktop = _OpenInputDesktop(0, False, _DESKTOP_READOBJECTS)
            if not desktop:
                return None
            try:
                buffer = ctypes.create_unicode_buffer(256)
                needed = _DWORD()
                if not _GetUserObjectInformationW(
                    desktop, _UOI_NAME, buffer, ctypes.sizeof(buffer), ctypes.byref(needed)
                ):
                    return None
                return buffer.value
            finally:
                _CloseDesktop(desktop)

        def attach_to_input_desktop(self) -> bool:
            desktop = _OpenInputDesktop(0, False, _GENERIC_ALL)
            if not desktop:
                return False
            if not _SetThreadDesktop(desktop):
                _CloseDesktop(desktop)
                return False
            # The previous handle may be closed only once the thread no longer uses it.
            previous = getattr(self._held, "desktop", None)
            self._held.desktop = desktop
            if previous:
                _CloseDesktop(previous)
            return True

        def set_dpi_awareness(self) -> bool:
            return bool(_SetProcessDpiAwarenessContext(_DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2))

        def active_console_session(self) -> int:
            return int(_WTSGetActiveConsoleSessionId())

        def current_session(self) -> int:
            session = _DWORD()
            if not _ProcessIdToSessionId(_GetCurrentProcessId(), ctypes.byref(session)):
                raise _last_error("ProcessIdToSessionId")
            return int(session.value)

        def windows_build(self) -> int:
            info = _OSVERSIONINFOW()
            info.dwOSVersionInfoSize = ctypes.sizeof(info)
            status = int(_RtlGetVersion(ctypes.byref(info)))
            if status != 0:
                raise Win32Error("RtlGetVersion", status)
            return int(info.dwBuildNumber)

    # -- COM -------------------------------------------------------------------------------

    def _guid(text: str) -> GUID:
        return GUID.from_buffer_copy(uuid.UUID(text).bytes_le)

    class _Com:
        """One COM interface pointer; methods are called by vtable slot."""

        def __init__(self, pointer: _PVOID, name: str) -> None:
            self.pointer = pointer
            self.name = name

        def call(
            self, slot: int, method: str, argtypes: tuple[Any, ...], *args: Any,
            restype: Any = _HRESULT,
        ) -> Any:  # fmt: skip
            vtable = ctypes.cast(self.pointer, ctypes.POINTER(ctypes.POINTER(_PVOID))).contents
            function = ctypes.WINFUNCTYPE(restype, _PVOID, *argtypes)(vtable[slot])
            result = function(self.pointer, *args)
            if restype is _HRESULT and result < 0:
                raise Win32Error(f"{self.name}::{method}", result)
            return result

        def produce(
            self, slot: int, method: str, name: str, argtypes: tuple[Any, ...], *args: Any
        ) -> _Com:
            out = _PVOID()
            self.call(slot, method, (*argtypes, ctypes.POINTER(_PVOID)), *args, ctypes.byref(out))
            return _Com(out, name)

        def query(self, iid: str, name: str) -> _Com:
            return self.produce(
                SLOT_QUERY_INTERFACE, "QueryInterface", name, (ctypes.POINTER(GUID),),
                ctypes.byref(_guid(iid)),
            )  # fmt: skip

        def release(self) -> None:
            if self.pointer:
                self.call(SLOT_RELEASE, "Release", (), restype=ctypes.c_ulong)
                self.pointer = _PVOID()

    _CreateDXGIFactory1 = _fn(
        _dxgi, "CreateDXGIFactory1", _HRESULT, ctypes.POINTER(GUID), ctypes.POINTER(_PVOID)
    )
    _D3D11CreateDevice = _fn(
        _d3d11, "D3D11CreateDevice", _HRESULT, _PVOID, _UINT, _PVOID, _UINT,
        ctypes.POINTER(_UINT), _UINT, _UINT, ctypes.POINTER(_PVOID), ctypes.POINTER(_UINT),
        ctypes.POINTER(_PVOID),
    )  # fmt: skip

    def _factory() -> _Com:
        out = _PVOID()
        hr = int(_CreateDXGIFactory1(ctypes.byref(_guid(IID_IDXGIFactory1)), ctypes.byref(out)))
        if hr < 0:
            raise Win32Error("CreateDXGIFactory1", hr)
        return _Com(out, "IDXGIFactory1")

    def _enumerate(parent: _Com, slot: int, method: str, name: str) -> list[_Com]:
        found = []
        for index in count():
            try:
                found.append(parent.produce(slot, method, name, (_UINT,), index))
            except Win32Error as exc:
                if exc.code == DXGI_ERROR_NOT_FOUND:
                    return found
                for com in found:
                    com.release()
                raise
        return found

    def _output_info(adapter: int, index: int, output: _Com) -> OutputInfo:
        desc = DXGI_OUTPUT_DESC()
        output.call(
            SLOT_OUTPUT_GET_DESC, "GetDesc", (ctypes.POINTER(DXGI_OUTPUT_DESC),),
            ctypes.byref(desc),
        )  # fmt: skip
        name = bytes(desc.DeviceName).decode("utf-16-le").split("\0", 1)[0]
        r = desc.DesktopCoordinates
        return OutputInfo(
            adapter, index, name, Box(r.left, r.top, r.right, r.bottom),
            bool(desc.AttachedToDesktop), int(desc.Rotation),
        )  # fmt: skip

    class _Duplications:
        def outputs(self) -> list[OutputInfo]:
            factory = _factory()
            try:
                infos = []
                adapters = _enumerate(
                    factory, SLOT_FACTORY1_ENUM_ADAPTERS1, "EnumAdapters1", "IDXGIAdapter1"
                )
                for a, adapter in enumerate(adapters):
                    outputs = _enumerate(
                        adapter, SLOT_ADAPTER_ENUM_OUTPUTS, "EnumOutputs", "IDXGIOutput"
                    )
                    for o, output in enumerate(outputs):
                        infos.append(_output_info(a, o, output))
                        output.release()
                    adapter.release()
                return infos
            finally:
                factory.release()

        def duplicate(self, output: OutputInfo) -> Duplication:
            factory = _factory()
            held: list[_Com] = [factory]
            try:
                adapter = factory.produce(
                    SLOT_FACTORY1_ENUM_ADAPTERS1, "EnumAdapters1", "IDXGIAdapter1", (_UINT,),
                    output.adapter,
                )  # fmt: skip
                held.append(adapter)
                plain = adapter.produce(
                    SLOT_ADAPTER_ENUM_OUTPUTS, "EnumOutputs", "IDXGIOutput", (_UINT,),
                    output.output,
                )  # fmt: skip
                held.append(plain)
                output1 = plain.query(IID_IDXGIOutput1, "IDXGIOutput1")
                held.append(output1)
                device, context = _device(adapter)
                try:
                    duplication = output1.produce(
                        SLOT_OUTPUT1_DUPLICATE_OUTPUT, "DuplicateOutput",
                        "IDXGIOutputDuplication", (_PVOID,), device.pointer,
                    )  # fmt: skip
                    return _Duplication(device, context, duplication)
                except BaseException:
                    context.release()
                    device.release()
                    raise
            finally:
                for com in reversed(held):
                    com.release()

    def _device(adapter: _Com) -> tuple[_Com, _Com]:
        levels = (_UINT * len(D3D_FEATURE_LEVELS))(*D3D_FEATURE_LEVELS)
        device, context, level = _PVOID(), _PVOID(), _UINT()
        hr = int(
            _D3D11CreateDevice(
                adapter.pointer, 0, None, D3D11_CREATE_DEVICE_BGRA_SUPPORT, levels,
                len(D3D_FEATURE_LEVELS), D3D11_SDK_VERSION, ctypes.byref(device),
                ctypes.byref(level), ctypes.byref(context),
            )
        )  # fmt: skip
        if hr < 0:
            raise Win32Error("D3D11CreateDevice", hr)
        return _Com(device, "ID3D11Device"), _Com(context, "ID3D11DeviceContext")

    class _Duplication:
        def __init__(self, device: _Com, context: _Com, duplication: _Com) -> None:
            self._device = device
            self._context = context
            self._duplication = duplication
            desc = DXGI_OUTDUPL_DESC()
            duplication.call(
                SLOT_DUPLICATION_GET_DESC, "GetDesc", (ctypes.POINTER(DXGI_OUTDUPL_DESC),),
                ctypes.byref(desc), restype=None,
            )  # fmt: skip
            self._description = DuplicationDesc(
                int(desc.Width), int(desc.Height), int(desc.Rotation),
                bool(desc.DesktopImageInSystemMemory),
            )  # fmt: skip
            texture = D3D11_TEXTURE2D_DESC(
                Width=desc.Width, Height=desc.Height, MipLevels=1, ArraySize=1,
                Format=DXGI_FORMAT_B8G8R8A8_UNORM, SampleCount=1, SampleQuality=0,
                Usage=D3D11_USAGE_STAGING, BindFlags=0, CPUAccessFlags=D3D11_CPU_ACCESS_READ,
                MiscFlags=0,
            )  # fmt: skip
            self._staging = device.produce(
                SLOT_DEVICE_CREATE_TEXTURE2D, "CreateTexture2D", "ID3D11Texture2D",
                (ctypes.POINTER(D3D11_TEXTURE2D_DESC), _PVOID), ctypes.byref(texture), None,
            )  # fmt: skip
            self._frame: _Com | None = None
            self._info = DXGI_OUTDUPL_FRAME_INFO()

        @property
        def description(self) -> DuplicationDesc:
            return self._description

        def acquire(self, timeout_ms: int) -> FrameInfo:
            info = DXGI_OUTDUPL_FRAME_INFO()
            resource = self._duplication.produce(
                SLOT_DUPLICATION_ACQUIRE_NEXT_FRAME, "AcquireNextFrame", "IDXGIResource",
                (_UINT, ctypes.POINTER(DXGI_OUTDUPL_FRAME_INFO)), timeout_ms,
                ctypes.byref(info),
            )  # fmt: skip
            try:
                self._frame = resource.query(IID_ID3D11Texture2D, "ID3D11Texture2D")
            finally:
                resource.release()
            self._info = info
            p = info.PointerPosition
            return FrameInfo(
                int(info.LastPresentTime), int(info.LastMouseUpdateTime),
                int(info.AccumulatedFrames), bool(info.RectsCoalesced),
                bool(info.ProtectedContentMaskedOut), int(p.Position.x), int(p.Position.y),
                bool(p.Visible), int(info.TotalMetadataBufferSize),
                int(info.PointerShapeBufferSize),
            )  # fmt: skip

        def _metadata(self, slot: int, method: str, item: type[ctypes.Structure]) -> Any:
            size = max(int(self._info.TotalMetadataBufferSize), ctypes.sizeof(item))
            for _ in range(2):
                buffer = (item * (size // ctypes.sizeof(item)))()
                needed = _UINT()
                try:
                    self._duplication.call(
                        slot, method, (_UINT, ctypes.POINTER(item), ctypes.POINTER(_UINT)),
                        ctypes.sizeof(buffer), buffer, ctypes.byref(needed),
                    )  # fmt: skip
                except Win32Error as exc:
                    if exc.code != DXGI_ERROR_MORE_DATA:
                        raise
                    size = int(needed.value)
                    continue
                return buffer[: int(needed.value) // ctypes.sizeof(item)]
            raise Win32Error(f"IDXGIOutputDuplication::{method}", DXGI_ERROR_MORE_DATA)

        def dirty_rects(self) -> list[Box]:
            rects = self._metadata(
                SLOT_DUPLICATION_GET_FRAME_DIRTY_RECTS, "GetFrameDirtyRects", RECT
            )
            return [Box(r.left, r.top, r.right, r.bottom) for r in rects]

        def move_rects(self) -> list[MoveRect]:
            moves = self._metadata(
                SLOT_DUPLICATION_GET_FRAME_MOVE_RECTS, "GetFrameMoveRects", DXGI_OUTDUPL_MOVE_RECT
            )
            return [
                MoveRect(
                    m.SourcePoint.x,
                    m.SourcePoint.y,
                    Box(
                        m.DestinationRect.left,
                        m.DestinationRect.top,
                        m.DestinationRect.right,
                        m.DestinationRect.bottom,
                    ),
                )
                for m in moves
            ]

        def pointer_shape(self) -> PointerShape:
            size = int(self._info.PointerShapeBufferSize)
            buffer = ctypes.create_string_buffer(size)
            needed = _UINT()
            info = DXGI_OUTDUPL_POINTER_SHAPE_INFO()
            self._duplication.call(
                SLOT_DUPLICATION_GET_FRAME_POINTER_SHAPE, "GetFramePointerShape",
                (_UINT, _PVOID, ctypes.POINTER(_UINT),
                 ctypes.POINTER(DXGI_OUTDUPL_POINTER_SHAPE_INFO)),
                size, buffer, ctypes.byref(needed), ctypes.byref(info),
            )  # fmt: skip
            return PointerShape(
                int(info.Type), int(info.Width), int(info.Height), int(info.Pitch),
                int(info.HotSpot.x), int(info.HotSpot.y), buffer.raw[: int(needed.value)],
            )  # fmt: skip

        def read(self, boxes: Sequence[Box]) -> list[Pixels]:
            frame = self._frame
            if frame is None:
                raise Win32Error("read", DXGI_ERROR_INVALID_CALL, "no frame acquired")
            for b in boxes:
                box = D3D11_BOX(b.left, b.top, 0, b.right, b.bottom, 1)
                self._context.call(
                    SLOT_CONTEXT_COPY_SUBRESOURCE_REGION, "CopySubresourceRegion",
                    (_PVOID, _UINT, _UINT, _UINT, _UINT, _PVOID, _UINT,
                     ctypes.POINTER(D3D11_BOX)),
                    self._staging.pointer, 0, b.left, b.top, 0, frame.pointer, 0,
                    ctypes.byref(box), restype=None,
                )  # fmt: skip
            mapped = D3D11_MAPPED_SUBRESOURCE()
            self._context.call(
                SLOT_CONTEXT_MAP, "Map",
                (_PVOID, _UINT, _UINT, _UINT, ctypes.POINTER(D3D11_MAPPED_SUBRESOURCE)),
                self._staging.pointer, 0, D3D11_MAP_READ, 0, ctypes.byref(mapped),
            )  # fmt: skip
            try:
                pitch, height = int(mapped.RowPitch), self._description.height
                memory = (ctypes.c_uint8 * (pitch * height)).from_address(int(mapped.pData))
                rows = np.frombuffer(memoryview(memory), np.uint8).reshape(height, pitch)
                return [
                    rows[b.top : b.bottom, b.left * 4 : b.right * 4]
                    .reshape(b.height, b.width, 4)
                    .copy()
                    for b in boxes
                ]
            finally:
                self._context.call(
                    SLOT_CONTEXT_UNMAP, "Unmap", (_PVOID, _UINT), self._staging.pointer, 0,
                    restype=None,
                )  # fmt: skip

        def release_frame(self) -> None:
            frame, self._frame = self._frame, None
            if frame is not None:
                frame.release()
            self._duplication.call(SLOT_DUPLICATION_RELEASE_FRAME, "ReleaseFrame", ())

        def close(self) -> None:
            if self._frame is not None:
                self._frame.release()
                self._frame = None
            for com in (self._staging, self._duplication, self._context, self._device):
                com.release()

    # -- overlays and hooks: one GUI thread --------------------------------------------------

    import queue
    from concurrent.futures import Future

    _gdi32 = ctypes.WinDLL("gdi32", use_last_error=True)
    _LRESULT = ctypes.c_ssize_t
    _WPARAM = ctypes.c_size_t
    _LPARAM = ctypes.c_ssize_t
    _WNDPROC = ctypes.WINFUNCTYPE(_LRESULT, _PVOID, _UINT, _WPARAM, _LPARAM)
    _HOOKPROC = ctypes.WINFUNCTYPE(_LRESULT, ctypes.c_int, _WPARAM, _LPARAM)

    class _WNDCLASSEXW(ctypes.Structure):
        _fields_ = (
            ("cbSize", _UINT), ("style", _UINT), ("lpfnWndProc", _WNDPROC),
            ("cbClsExtra", ctypes.c_int), ("cbWndExtra", ctypes.c_int), ("hInstance", _PVOID),
            ("hIcon", _PVOID), ("hCursor", _PVOID), ("hbrBackground", _PVOID),
            ("lpszMenuName", ctypes.c_wchar_p), ("lpszClassName", ctypes.c_wchar_p),
            ("hIconSm", _PVOID),
        )  # fmt: skip

    class _MSG(ctypes.Structure):
        _fields_ = (
            ("hwnd", _PVOID), ("message", _UINT), ("wParam", _WPARAM), ("lParam", _LPARAM),
            ("time", _DWORD), ("pt", POINT), ("lPrivate", _DWORD),
        )  # fmt: skip

    class _BITMAPINFOHEADER(ctypes.Structure):
        _fields_ = (
            ("biSize", _DWORD), ("biWidth", _LONG), ("biHeight", _LONG), ("biPlanes", _WORD),
            ("biBitCount", _WORD), ("biCompression", _DWORD), ("biSizeImage", _DWORD),
            ("biXPelsPerMeter", _LONG), ("biYPelsPerMeter", _LONG), ("biClrUsed", _DWORD),
            ("biClrImportant", _DWORD),
        )  # fmt: skip

    class _SIZE(ctypes.Structure):
        _fields_ = (("cx", _LONG), ("cy", _LONG))

    class _BLENDFUNCTION(ctypes.Structure):
        _fields_ = tuple(
            (name, ctypes.c_uint8)
            for name in ("BlendOp", "BlendFlags", "SourceConstantAlpha", "AlphaFormat")
        )

    class _KBDLLHOOKSTRUCT(ctypes.Structure):
        _fields_ = (
            ("vkCode", _DWORD), ("scanCode", _DWORD), ("flags", _DWORD), ("time", _DWORD),
            ("dwExtraInfo", _ULONG_PTR),
        )  # fmt: skip

    class _MSLLHOOKSTRUCT(ctypes.Structure):
        _fields_ = (
            ("pt", POINT), ("mouseData", _DWORD), ("flags", _DWORD), ("time", _DWORD),
            ("dwExtraInfo", _ULONG_PTR),
        )  # fmt: skip

    _GetModuleHandleW = _fn(_kernel32, "GetModuleHandleW", _PVOID, ctypes.c_wchar_p)
    _GetCurrentThreadId = _fn(_kernel32, "GetCurrentThreadId", _DWORD)
    _RegisterClassExW = _fn(
        _user32, "RegisterClassExW", ctypes.c_uint16, ctypes.POINTER(_WNDCLASSEXW)
    )
    _DefWindowProcW = _fn(_user32, "DefWindowProcW", _LRESULT, _PVOID, _UINT, _WPARAM, _LPARAM)
    _CreateWindowExW = _fn(
        _user32, "CreateWindowExW", _PVOID, _DWORD, ctypes.c_wchar_p, ctypes.c_wchar_p, _DWORD,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, _PVOID, _PVOID, _PVOID, _PVOID,
    )  # fmt: skip
    _DestroyWindow = _fn(_user32, "DestroyWindow", wintypes.BOOL, _PVOID)
    _ShowWindow = _fn(_user32, "ShowWindow", wintypes.BOOL, _PVOID, ctypes.c_int)
    _SetWindowPos = _fn(
        _user32, "SetWindowPos", wintypes.BOOL, _PVOID, ctypes.c_ssize_t, ctypes.c_int,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, _UINT,
    )  # fmt: skip
    _SetWindowDisplayAffinity = _fn(
        _user32, "SetWindowDisplayAffinity", wintypes.BOOL, _PVOID, _DWORD
    )
    _GetWindowDisplayAffinity = _fn(
        _user32, "GetWindowDisplayAffinity", wintypes.BOOL, _PVOID, ctypes.POINTER(_DWORD)
    )
    _UpdateLayeredWindow = _fn(
        _user32, "UpdateLayeredWindow", wintypes.BOOL, _PVOID, _PVOID, ctypes.POINTER(POINT),
        ctypes.POINTER(_SIZE), _PVOID, ctypes.POINTER(POINT), _DWORD,
        ctypes.POINTER(_BLENDFUNCTION), _DWORD,
    )  # fmt: skip
    _GetDC = _fn(_user32, "GetDC", _PVOID, _PVOID)
    _ReleaseDC = _fn(_user32, "ReleaseDC", ctypes.c_int, _PVOID, _PVOID)
    _CreateCompatibleDC = _fn(_gdi32, "CreateCompatibleDC", _PVOID, _PVOID)
    _CreateDIBSection = _fn(
        _gdi32, "CreateDIBSection", _PVOID, _PVOID, ctypes.POINTER(_BITMAPINFOHEADER), _UINT,
        ctypes.POINTER(_PVOID), _PVOID, _DWORD,
    )  # fmt: skip
    _SelectObject = _fn(_gdi32, "SelectObject", _PVOID, _PVOID, _PVOID)
    _DeleteObject = _fn(_gdi32, "DeleteObject", wintypes.BOOL, _PVOID)
    _DeleteDC = _fn(_gdi32, "DeleteDC", wintypes.BOOL, _PVOID)
    _GetMessageW = _fn(
        _user32, "GetMessageW", ctypes.c_int, ctypes.POINTER(_MSG), _PVOID, _UINT, _UINT
    )
    _PeekMessageW = _fn(
        _user32, "PeekMessageW", wintypes.BOOL, ctypes.POINTER(_MSG), _PVOID, _UINT, _UINT,
        _UINT,
    )  # fmt: skip
    _TranslateMessage = _fn(_user32, "TranslateMessage", wintypes.BOOL, ctypes.POINTER(_MSG))
    _DispatchMessageW = _fn(_user32, "DispatchMessageW", _LRESULT, ctypes.POINTER(_MSG))
    _PostThreadMessageW = _fn(
        _user32, "PostThreadMessageW", wintypes.BOOL, _DWORD, _UINT, _WPARAM, _LPARAM
    )
    _SetTimer = _fn(_user32, "SetTimer", ctypes.c_size_t, _PVOID, ctypes.c_size_t, _UINT, _PVOID)
    _SetWindowsHookExW = _fn(
        _user32, "SetWindowsHookExW", _PVOID, ctypes.c_int, _HOOKPROC, _PVOID, _DWORD
    )
    _CallNextHookEx = _fn(
        _user32, "CallNextHookEx", _LRESULT, _PVOID, ctypes.c_int, _WPARAM, _LPARAM
    )
    _UnhookWindowsHookEx = _fn(_user32, "UnhookWindowsHookEx", wintypes.BOOL, _PVOID)

    _WS_POPUP = 0x80000000
    _WS_EX_TOPMOST, _WS_EX_TRANSPARENT, _WS_EX_TOOLWINDOW = 0x8, 0x20, 0x80
    _WS_EX_LAYERED, _WS_EX_NOACTIVATE = 0x80000, 0x08000000
    _OVERLAY_STYLE = (
        _WS_EX_TOPMOST | _WS_EX_TRANSPARENT | _WS_EX_TOOLWINDOW | _WS_EX_LAYERED
        | _WS_EX_NOACTIVATE
    )  # fmt: skip
    _SW_SHOWNOACTIVATE = 4
    _HWND_TOPMOST = -1
    _SWP_KEEP = 0x0001 | 0x0002 | 0x0010  # NOSIZE | NOMOVE | NOACTIVATE
    _ULW_ALPHA = 0x2
    _WM_TIMER, _WM_APP = 0x0113, 0x8000
    _WH_KEYBOARD_LL, _WH_MOUSE_LL = 13, 14
    _CLASS_NAME = "MamoriOverlay"
    _KEEP_ON_TOP_MS = 1000  # windows of other programs may take the top: take it back

    class _Overlays:
        """A GUI thread that owns every overlay window and the hooks (see the Protocol)."""

        def __init__(self) -> None:
            self._requests: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
            self._windows: set[int] = set()
            self._hooks: list[int] = []
            self._callbacks: list[Any] = []  # ctypes callbacks must outlive their use
            self._allow: Callable[[bool, int], bool] | None = None
            self._thread_id = 0
            ready = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(ready,), name="mamori-overlay", daemon=True
            )
            thread.start()
            if not ready.wait(5.0):
                raise Win32Error("overlay thread", 0, "did not start")

        def _run(self, ready: threading.Event) -> None:
            self._thread_id = int(_GetCurrentThreadId())
            instance = _GetModuleHandleW(None)
            procedure = _WNDPROC(lambda h, m, w, p: int(_DefWindowProcW(h, m, w, p)))
            self._callbacks.append(procedure)
            window_class = _WNDCLASSEXW(
                cbSize=ctypes.sizeof(_WNDCLASSEXW), lpfnWndProc=procedure, hInstance=instance,
                lpszClassName=_CLASS_NAME,
            )  # fmt: skip
            _RegisterClassExW(ctypes.byref(window_class))
            message = _MSG()
            _PeekMessageW(ctypes.byref(message), None, 0, 0, 0)  # makes the message queue
            _SetTimer(None, 0, _KEEP_ON_TOP_MS, None)
            ready.set()
            while _GetMessageW(ctypes.byref(message), None, 0, 0) > 0:
                if message.message == _WM_APP and not message.hwnd:
                    self._serve()
                elif message.message == _WM_TIMER and not message.hwnd:
                    for window in self._windows:
                        _SetWindowPos(window, _HWND_TOPMOST, 0, 0, 0, 0, _SWP_KEEP)
                else:
                    _TranslateMessage(ctypes.byref(message))
                    _DispatchMessageW(ctypes.byref(message))

        def _serve(self) -> None:
            while not self._requests.empty():
                work, future = self._requests.get()
                try:
                    future.set_result(work())
                except BaseException as exc:
                    future.set_exception(exc)

        def _on_thread(self, work: Callable[[], Any]) -> Any:
            future: Future[Any] = Future()
            self._requests.put((work, future))
            if not _PostThreadMessageW(self._thread_id, _WM_APP, 0, 0):
                raise _last_error("PostThreadMessageW")
            return future.result(timeout=10.0)

        def show(self, box: Box, bgra: Pixels, exclude_from_capture: bool) -> int:
            return int(self._on_thread(lambda: self._show(box, bgra, exclude_from_capture)))

        def _show(self, box: Box, bgra: Pixels, exclude_from_capture: bool) -> int:
            window = _CreateWindowExW(
                _OVERLAY_STYLE, _CLASS_NAME, "Mamori", _WS_POPUP, box.left, box.top, box.width,
                box.height, None, None, _GetModuleHandleW(None), None,
            )  # fmt: skip
            if not window:
                raise _last_error("CreateWindowExW")
            try:
                if exclude_from_capture and not _SetWindowDisplayAffinity(
                    window, WDA_EXCLUDEFROMCAPTURE
                ):
                    raise _last_error("SetWindowDisplayAffinity")
                self._paint(window, box, np.ascontiguousarray(bgra))
            except Win32Error:
                _DestroyWindow(window)
                raise
            _ShowWindow(window, _SW_SHOWNOACTIVATE)
            _SetWindowPos(window, _HWND_TOPMOST, 0, 0, 0, 0, _SWP_KEEP)
            self._windows.add(int(window))
            return int(window)

        def _paint(self, window: Any, box: Box, bgra: Pixels) -> None:
            screen = _GetDC(None)
            memory = _CreateCompatibleDC(screen)
            header = _BITMAPINFOHEADER(
                biSize=ctypes.sizeof(_BITMAPINFOHEADER), biWidth=box.width,
                biHeight=-box.height, biPlanes=1, biBitCount=32, biCompression=0,
            )  # fmt: skip
            bits = _PVOID()
            bitmap = _CreateDIBSection(screen, ctypes.byref(header), 0, ctypes.byref(bits), None, 0)
            try:
                if not bitmap:
                    raise _last_error("CreateDIBSection")
                ctypes.memmove(bits, bgra.ctypes.data, box.width * box.height * 4)
                previous = _SelectObject(memory, bitmap)
                blend = _BLENDFUNCTION(0, 0, 255, 1)  # AC_SRC_OVER, opaque, AC_SRC_ALPHA
                done = _UpdateLayeredWindow(
                    window, screen, ctypes.byref(POINT(box.left, box.top)),
                    ctypes.byref(_SIZE(box.width, box.height)), memory,
                    ctypes.byref(POINT(0, 0)), 0, ctypes.byref(blend), _ULW_ALPHA,
                )  # fmt: skip
                _SelectObject(memory, previous)
                if not done:
                    raise _last_error("UpdateLayeredWindow")
            finally:
                if bitmap:
                    _DeleteObject(bitmap)
                _DeleteDC(memory)
                _ReleaseDC(None, screen)

        def affinity(self, window: int) -> int:
            value = _DWORD()
            if not _GetWindowDisplayAffinity(window, ctypes.byref(value)):
                return -1
            return int(value.value)

        def close(self, window: int) -> None:
            def destroy() -> None:
                self._windows.discard(window)
                _DestroyWindow(window)

            self._on_thread(destroy)

        def filter_input(self, allow: Callable[[bool, int], bool] | None) -> bool:
            return bool(self._on_thread(lambda: self._filter(allow)))

        def _filter(self, allow: Callable[[bool, int], bool] | None) -> bool:
            for hook in self._hooks:
                _UnhookWindowsHookEx(hook)
            self._hooks.clear()
            self._allow = allow
            if allow is None:
                return True

            def keyboard(code: int, wparam: int, lparam: int) -> int:
                if code == 0:  # HC_ACTION
                    event = _KBDLLHOOKSTRUCT.from_address(lparam)
                    if not self._passes(bool(event.flags & LLKHF_INJECTED), event.dwExtraInfo):
                        return 1
                return int(_CallNextHookEx(None, code, wparam, lparam))

            def mouse(code: int, wparam: int, lparam: int) -> int:
                if code == 0:
                    event = _MSLLHOOKSTRUCT.from_address(lparam)
                    if not self._passes(bool(event.flags & LLMHF_INJECTED), event.dwExtraInfo):
                        return 1
                return int(_CallNextHookEx(None, code, wparam, lparam))

            instance = _GetModuleHandleW(None)
            for kind, function in ((_WH_KEYBOARD_LL, keyboard), (_WH_MOUSE_LL, mouse)):
                procedure = _HOOKPROC(function)
                self._callbacks.append(procedure)
                hook = _SetWindowsHookExW(kind, procedure, instance, 0)
                if not hook:
                    self._filter(None)
                    return False
                self._hooks.append(int(hook))
            return True

        def _passes(self, injected: bool, extra_info: int) -> bool:
            allow = self._allow
            try:
                return allow is None or allow(injected, int(extra_info))
            except Exception:  # a hook must answer; an error must not hold the keyboard
                return True

    # -- services, sessions, processes -----------------------------------------------------

    import subprocess
    import winreg

    _advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    _shell32 = ctypes.WinDLL("shell32", use_last_error=True)

    class _SERVICE_STATUS(ctypes.Structure):
        _fields_ = tuple(
            (name, _DWORD)
            for name in (
                "dwServiceType", "dwCurrentState", "dwControlsAccepted", "dwWin32ExitCode",
                "dwServiceSpecificExitCode", "dwCheckPoint", "dwWaitHint",
            )
        )  # fmt: skip

    class _SC_ACTION(ctypes.Structure):
        _fields_ = (("Type", _DWORD), ("Delay", _DWORD))

    class _SERVICE_FAILURE_ACTIONSW(ctypes.Structure):
        _fields_ = (
            ("dwResetPeriod", _DWORD), ("lpRebootMsg", ctypes.c_wchar_p),
            ("lpCommand", ctypes.c_wchar_p), ("cActions", _DWORD),
            ("lpsaActions", ctypes.POINTER(_SC_ACTION)),
        )  # fmt: skip

    class _SERVICE_DESCRIPTIONW(ctypes.Structure):
        _fields_ = (("lpDescription", ctypes.c_wchar_p),)

    _SERVICE_MAIN = ctypes.WINFUNCTYPE(None, _DWORD, ctypes.POINTER(ctypes.c_wchar_p))
    _HANDLER_EX = ctypes.WINFUNCTYPE(_DWORD, _DWORD, _DWORD, _PVOID, _PVOID)

    class _SERVICE_TABLE_ENTRYW(ctypes.Structure):
        _fields_ = (("lpServiceName", ctypes.c_wchar_p), ("lpServiceProc", _SERVICE_MAIN))

    class _WTSSESSION_NOTIFICATION(ctypes.Structure):
        _fields_ = (("cbSize", _DWORD), ("dwSessionId", _DWORD))

    class _STARTUPINFOW(ctypes.Structure):
        _fields_ = (
            ("cb", _DWORD), ("lpReserved", ctypes.c_wchar_p), ("lpDesktop", ctypes.c_wchar_p),
            ("lpTitle", ctypes.c_wchar_p), ("dwX", _DWORD), ("dwY", _DWORD),
            ("dwXSize", _DWORD), ("dwYSize", _DWORD), ("dwXCountChars", _DWORD),
            ("dwYCountChars", _DWORD), ("dwFillAttribute", _DWORD), ("dwFlags", _DWORD),
            ("wShowWindow", _WORD), ("cbReserved2", _WORD), ("lpReserved2", _PVOID),
            ("hStdInput", _PVOID), ("hStdOutput", _PVOID), ("hStdError", _PVOID),
        )  # fmt: skip

    class _PROCESS_INFORMATION(ctypes.Structure):
        _fields_ = (
            ("hProcess", _PVOID), ("hThread", _PVOID), ("dwProcessId", _DWORD),
            ("dwThreadId", _DWORD),
        )  # fmt: skip

    _OpenSCManagerW = _fn(
        _advapi32, "OpenSCManagerW", _PVOID, ctypes.c_wchar_p, ctypes.c_wchar_p, _DWORD
    )
    _OpenServiceW = _fn(_advapi32, "OpenServiceW", _PVOID, _PVOID, ctypes.c_wchar_p, _DWORD)
    _CreateServiceW = _fn(
        _advapi32, "CreateServiceW", _PVOID, _PVOID, ctypes.c_wchar_p, ctypes.c_wchar_p,
        _DWORD, _DWORD, _DWORD, _DWORD, ctypes.c_wchar_p, ctypes.c_wchar_p, _PVOID,
        ctypes.c_wchar_p, ctypes.c_wchar_p, ctypes.c_wchar_p,
    )  # fmt: skip
    _ChangeServiceConfigW = _fn(
        _advapi32, "ChangeServiceConfigW", wintypes.BOOL, _PVOID, _DWORD, _DWORD, _DWORD,
        ctypes.c_wchar_p, ctypes.c_wchar_p, _PVOID, ctypes.c_wchar_p, ctypes.c_wchar_p,
        ctypes.c_wchar_p, ctypes.c_wchar_p,
    )  # fmt: skip
    _ChangeServiceConfig2W = _fn(
        _advapi32, "ChangeServiceConfig2W", wintypes.BOOL, _PVOID, _DWORD, _PVOID
    )
    _QueryServiceStatus = _fn(
        _advapi32, "QueryServiceStatus", wintypes.BOOL, _PVOID, ctypes.POINTER(_SERVICE_STATUS)
    )
    _StartServiceW = _fn(_advapi32, "StartServiceW", wintypes.BOOL, _PVOID, _DWORD, _PVOID)
    _ControlService = _fn(
        _advapi32, "ControlService", wintypes.BOOL, _PVOID, _DWORD,
        ctypes.POINTER(_SERVICE_STATUS),
    )  # fmt: skip
    _DeleteService = _fn(_advapi32, "DeleteService", wintypes.BOOL, _PVOID)
    _CloseServiceHandle = _fn(_advapi32, "CloseServiceHandle", wintypes.BOOL, _PVOID)
    _StartServiceCtrlDispatcherW = _fn(
        _advapi32, "StartServiceCtrlDispatcherW", wintypes.BOOL,
        ctypes.POINTER(_SERVICE_TABLE_ENTRYW),
    )  # fmt: skip
    _RegisterServiceCtrlHandlerExW = _fn(
        _advapi32, "RegisterServiceCtrlHandlerExW", _PVOID, ctypes.c_wchar_p, _HANDLER_EX,
        _PVOID,
    )  # fmt: skip
    _SetServiceStatus = _fn(
        _advapi32, "SetServiceStatus", wintypes.BOOL, _PVOID, ctypes.POINTER(_SERVICE_STATUS)
    )
    _OpenProcessToken = _fn(
        _advapi32, "OpenProcessToken", wintypes.BOOL, _PVOID, _DWORD, ctypes.POINTER(_PVOID)
    )
    _DuplicateTokenEx = _fn(
        _advapi32, "DuplicateTokenEx", wintypes.BOOL, _PVOID, _DWORD, _PVOID, ctypes.c_int,
        ctypes.c_int, ctypes.POINTER(_PVOID),
    )  # fmt: skip
    _SetTokenInformation = _fn(
        _advapi32, "SetTokenInformation", wintypes.BOOL, _PVOID, ctypes.c_int, _PVOID, _DWORD
    )
    _CreateProcessAsUserW = _fn(
        _advapi32, "CreateProcessAsUserW", wintypes.BOOL, _PVOID, ctypes.c_wchar_p,
        _PVOID, _PVOID, _PVOID, wintypes.BOOL, _DWORD, _PVOID, ctypes.c_wchar_p,
        ctypes.POINTER(_STARTUPINFOW), ctypes.POINTER(_PROCESS_INFORMATION),
    )  # fmt: skip
    _GetCurrentProcess = _fn(_kernel32, "GetCurrentProcess", _PVOID)
    _CloseHandle = _fn(_kernel32, "CloseHandle", wintypes.BOOL, _PVOID)
    _WaitForSingleObject = _fn(_kernel32, "WaitForSingleObject", _DWORD, _PVOID, _DWORD)
    _GetExitCodeProcess = _fn(
        _kernel32, "GetExitCodeProcess", wintypes.BOOL, _PVOID, ctypes.POINTER(_DWORD)
    )
    _TerminateProcess = _fn(_kernel32, "TerminateProcess", wintypes.BOOL, _PVOID, _UINT)
    _CreateEventW = _fn(
        _kernel32, "CreateEventW", _PVOID, _PVOID, wintypes.BOOL, wintypes.BOOL,
        ctypes.c_wchar_p,
    )  # fmt: skip
    _OpenEventW = _fn(_kernel32, "OpenEventW", _PVOID, _DWORD, wintypes.BOOL, ctypes.c_wchar_p)
    _SetEvent = _fn(_kernel32, "SetEvent", wintypes.BOOL, _PVOID)
    _IsUserAnAdmin = _fn(_shell32, "IsUserAnAdmin", wintypes.BOOL)

    _SC_MANAGER_ALL_ACCESS = 0xF003F
    _SERVICE_ALL_ACCESS = 0xF01FF
    _SERVICE_WIN32_OWN_PROCESS = 0x10
    _SERVICE_AUTO_START = 2
    _SERVICE_ERROR_NORMAL = 1
    _SERVICE_NO_CHANGE = 0xFFFFFFFF
    _SERVICE_CONFIG_DESCRIPTION, _SERVICE_CONFIG_FAILURE_ACTIONS = 1, 2
    _SERVICE_CONTROL_STOP = 1
    _SERVICE_CONTROL_SESSIONCHANGE = 0x0E
    _SERVICE_ACCEPT = 0x1 | 0x4 | 0x80  # STOP | SHUTDOWN | SESSIONCHANGE
    _ERROR_SERVICE_DOES_NOT_EXIST = 1060
    _ERROR_SERVICE_NOT_ACTIVE = 1062
    _SC_ACTION_RESTART = 1
    _TOKEN_ACCESS = 0x0002 | 0x0008 | 0x0080 | 0x0100 | 0x0001  # DUPLICATE QUERY ADJUST_*
    _MAXIMUM_ALLOWED = 0x02000000
    _SECURITY_IMPERSONATION, _TOKEN_PRIMARY, _TOKEN_SESSION_ID = 2, 1, 12
    _CREATE_NO_WINDOW = 0x08000000
    _SYNCHRONIZE_AND_MODIFY = 0x00100000 | 0x0002
    _WAIT_OBJECT_0, _WAIT_TIMEOUT = 0, 0x102
    _STILL_ACTIVE = 259

    class _Handle:
        """A service-manager handle, closed on exit."""

        def __init__(self, handle: Any, call: str) -> None:
            if not handle:
                raise _last_error(call)
            self.handle = handle

        def __enter__(self) -> Any:
            return self.handle

        def __exit__(self, *exc_info: object) -> None:
            _CloseServiceHandle(self.handle)

    def _scm() -> _Handle:
        return _Handle(_OpenSCManagerW(None, None, _SC_MANAGER_ALL_ACCESS), "OpenSCManagerW")

    def _service(manager: Any, name: str) -> _Handle:
        return _Handle(_OpenServiceW(manager, name, _SERVICE_ALL_ACCESS), "OpenServiceW")

    class _Process:
        def __init__(self, handle: Any, pid: int) -> None:
            self._handle = handle
            self._pid = pid

        @property
        def pid(self) -> int:
            return self._pid

        def wait(self, timeout_s: float) -> int | None:
            if _WaitForSingleObject(self._handle, int(timeout_s * 1000)) != _WAIT_OBJECT_0:
                return None
            code = _DWORD()
            _GetExitCodeProcess(self._handle, ctypes.byref(code))
            return int(code.value)

        def terminate(self) -> None:
            _TerminateProcess(self._handle, 1)

    class _Host:
        def __init__(self, handle: Any, controls: queue.Queue[tuple[int, int, int]]) -> None:
            self._handle = handle
            self._controls = controls

        def set_status(self, state: int) -> None:
            status = _SERVICE_STATUS(
                dwServiceType=_SERVICE_WIN32_OWN_PROCESS, dwCurrentState=state,
                dwControlsAccepted=_SERVICE_ACCEPT if state == SERVICE_RUNNING else 0,
                dwWaitHint=10000,
            )  # fmt: skip
            if not _SetServiceStatus(self._handle, ctypes.byref(status)):
                raise _last_error("SetServiceStatus")

        def next_control(self, timeout_s: float) -> tuple[int, int, int] | None:
            try:
                return self._controls.get(timeout=timeout_s)
            except queue.Empty:
                return None

    class _Services:
        def __init__(self) -> None:
            self._events: dict[str, Any] = {}

        def is_admin(self) -> bool:
            return bool(_IsUserAnAdmin())

        def service_state(self, name: str) -> int | None:
            with _scm() as manager:
                handle = _OpenServiceW(manager, name, 0x0004)  # SERVICE_QUERY_STATUS
                if not handle:
                    if ctypes.get_last_error() == _ERROR_SERVICE_DOES_NOT_EXIST:
                        return None
                    raise _last_error("OpenServiceW")
                try:
                    status = _SERVICE_STATUS()
                    if not _QueryServiceStatus(handle, ctypes.byref(status)):
                        raise _last_error("QueryServiceStatus")
                    return int(status.dwCurrentState)
                finally:
                    _CloseServiceHandle(handle)

        def create_service(
            self, name: str, display_name: str, command_line: str, description: str
        ) -> None:
            with _scm() as manager:
                created = _CreateServiceW(
                    manager, name, display_name, _SERVICE_ALL_ACCESS, _SERVICE_WIN32_OWN_PROCESS,
                    _SERVICE_AUTO_START, _SERVICE_ERROR_NORMAL, command_line, None, None, None,
                    None, None,
                )  # fmt: skip
                with _Handle(created, "CreateServiceW") as service:
                    text = _SERVICE_DESCRIPTIONW(description)
                    _ChangeServiceConfig2W(service, _SERVICE_CONFIG_DESCRIPTION, ctypes.byref(text))

        def update_service(self, name: str, command_line: str) -> None:
            with _scm() as manager, _service(manager, name) as service:
                if not _ChangeServiceConfigW(
                    service, _SERVICE_NO_CHANGE, _SERVICE_NO_CHANGE, _SERVICE_NO_CHANGE,
                    command_line, None, None, None, None, None, None,
                ):  # fmt: skip
                    raise _last_error("ChangeServiceConfigW")

        def set_recovery(self, name: str, restart_delays_ms: Sequence[int]) -> None:
            actions = (_SC_ACTION * len(restart_delays_ms))(
                *(_SC_ACTION(_SC_ACTION_RESTART, delay) for delay in restart_delays_ms)
            )
            failure = _SERVICE_FAILURE_ACTIONSW(86400, None, None, len(restart_delays_ms), actions)
            with _scm() as manager, _service(manager, name) as service:
                if not _ChangeServiceConfig2W(
                    service, _SERVICE_CONFIG_FAILURE_ACTIONS, ctypes.byref(failure)
                ):
                    raise _last_error("ChangeServiceConfig2W")

        def delete_service(self, name: str) -> None:
            with _scm() as manager, _service(manager, name) as service:
                if not _DeleteService(service):
                    raise _last_error("DeleteService")

        def start_service(self, name: str) -> None:
            with _scm() as manager, _service(manager, name) as service:
                if not _StartServiceW(service, 0, None):
                    raise _last_error("StartServiceW")

        def stop_service(self, name: str) -> None:
            with _scm() as manager, _service(manager, name) as service:
                status = _SERVICE_STATUS()
                stopped = _ControlService(service, _SERVICE_CONTROL_STOP, ctypes.byref(status))
                if not stopped and ctypes.get_last_error() != _ERROR_SERVICE_NOT_ACTIVE:
                    raise _last_error("ControlService")

        def set_policy(self, key: str, value_name: str, value: int) -> None:
            access = winreg.KEY_SET_VALUE | winreg.KEY_WOW64_64KEY
            with winreg.CreateKeyEx(winreg.HKEY_LOCAL_MACHINE, key, 0, access) as handle:
                winreg.SetValueEx(handle, value_name, 0, winreg.REG_DWORD, value)

        def restrict_directory(self, path: str) -> None:
            # SIDs, not names: the names of SYSTEM and Administrators are localised.
            grants = ["/grant:r", "*S-1-5-18:(OI)(CI)F", "/grant:r", "*S-1-5-32-544:(OI)(CI)F"]
            subprocess.run(  # noqa: S603 - a fixed Windows tool and arguments
                ["icacls", path, "/inheritance:r", *grants],  # noqa: S607
                check=True, capture_output=True,
            )  # fmt: skip

        def run_service(self, name: str, main: Callable[[ServiceHost], None]) -> None:
            controls: queue.Queue[tuple[int, int, int]] = queue.Queue()

            def handler(control: int, event: int, data: Any, context: Any) -> int:
                session = 0
                if control == _SERVICE_CONTROL_SESSIONCHANGE and data:
                    session = int(_WTSSESSION_NOTIFICATION.from_address(data).dwSessionId)
                controls.put((int(control), int(event), session))
                return 0  # NO_ERROR

            callbacks: list[Any] = []

            def service_main(argc: int, argv: Any) -> None:
                handler_ex = _HANDLER_EX(handler)
                callbacks.append(handler_ex)
                handle = _RegisterServiceCtrlHandlerExW(name, handler_ex, None)
                if not handle:
                    return
                host = _Host(handle, controls)
                try:
                    main(host)
                finally:
                    host.set_status(SERVICE_STOPPED)

            entry = _SERVICE_MAIN(service_main)
            table = (_SERVICE_TABLE_ENTRYW * 2)(
                _SERVICE_TABLE_ENTRYW(name, entry), _SERVICE_TABLE_ENTRYW(None, _SERVICE_MAIN())
            )
            if not _StartServiceCtrlDispatcherW(table):
                raise _last_error("StartServiceCtrlDispatcherW")

        def launch_in_session(self, session_id: int, command_line: str) -> WorkerProcess:
            own, token = _PVOID(), _PVOID()
            if not _OpenProcessToken(_GetCurrentProcess(), _TOKEN_ACCESS, ctypes.byref(own)):
                raise _last_error("OpenProcessToken")
            try:
                if not _DuplicateTokenEx(
                    own, _MAXIMUM_ALLOWED, None, _SECURITY_IMPERSONATION, _TOKEN_PRIMARY,
                    ctypes.byref(token),
                ):  # fmt: skip
                    raise _last_error("DuplicateTokenEx")
                session = _DWORD(session_id)
                if not _SetTokenInformation(
                    token, _TOKEN_SESSION_ID, ctypes.byref(session), ctypes.sizeof(session)
                ):
                    raise _last_error("SetTokenInformation")
                startup = _STARTUPINFOW(cb=ctypes.sizeof(_STARTUPINFOW))
                startup.lpDesktop = "winsta0\\default"
                info = _PROCESS_INFORMATION()
                line = ctypes.create_unicode_buffer(command_line)  # CreateProcess may write it
                if not _CreateProcessAsUserW(
                    token, None, line, None, None, False, _CREATE_NO_WINDOW, None, None,
                    ctypes.byref(startup), ctypes.byref(info),
                ):  # fmt: skip
                    raise _last_error("CreateProcessAsUserW")
                _CloseHandle(info.hThread)
                return _Process(info.hProcess, int(info.dwProcessId))
            finally:
                for handle in (token, own):
                    if handle:
                        _CloseHandle(handle)

        def create_event(self, name: str) -> None:
            if name not in self._events:
                event = _CreateEventW(None, True, False, name)
                if not event:
                    raise _last_error("CreateEventW")
                self._events[name] = event

        def signal_event(self, name: str) -> None:
            event = self._events.get(name)
            if event is None or not _SetEvent(event):
                raise _last_error("SetEvent")

        def wait_event(self, name: str, timeout_s: float) -> bool:
            event = self._events.get(name) or _OpenEventW(_SYNCHRONIZE_AND_MODIFY, False, name)
            if not event:
                return False
            self._events[name] = event
            return bool(_WaitForSingleObject(event, int(timeout_s * 1000)) == _WAIT_OBJECT_0)
