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
