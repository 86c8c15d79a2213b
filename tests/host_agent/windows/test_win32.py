"""The thin module (host_agent.platform.windows.win32) itself: importable here, its structures
laid out as the Windows SDK's, and checked by ``mypy --platform win32`` (strict)."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

from host_agent.platform.windows import win32
from host_agent.platform.windows.errors import Win32Error

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("structure", list(win32.SDK_SIZES), ids=lambda s: s.__name__)
def test_structures_have_the_sdk_sizes(structure: type[ctypes.Structure]) -> None:
    """Each structure is as large as the x64 SDK's (SendInput checks sizeof(INPUT))."""
    assert ctypes.sizeof(structure) == win32.SDK_SIZES[structure]


def test_input_fields_sit_where_windows_reads_them() -> None:
    """INPUT: the union at offset 8; KEYBDINPUT.wScan at 2, dwExtraInfo at 16; MOUSEINPUT
    mouseData at 8, dwExtraInfo at 24 (winuser.h on x64)."""
    assert win32.INPUT.u.offset == 8
    assert win32.KEYBDINPUT.wScan.offset == 2
    assert win32.KEYBDINPUT.dwExtraInfo.offset == 16
    assert win32.MOUSEINPUT.mouseData.offset == 8
    assert win32.MOUSEINPUT.dwExtraInfo.offset == 24
    assert win32.DXGI_OUTDUPL_FRAME_INFO.PointerPosition.offset == 28
    assert win32.DXGI_OUTDUPL_FRAME_INFO.TotalMetadataBufferSize.offset == 40
    assert win32.DXGI_OUTPUT_DESC.Monitor.offset == 88


def test_hresults_are_the_documented_values() -> None:
    """The two answers the capture loop lives by, as winerror.h defines them."""
    assert win32.DXGI_ERROR_ACCESS_LOST == 0x887A0026
    assert win32.DXGI_ERROR_WAIT_TIMEOUT == 0x887A0027
    assert Win32Error("x", -2005270490).code == win32.DXGI_ERROR_ACCESS_LOST  # signed HRESULT


def test_factories_refuse_off_windows() -> None:
    """Importing is fine anywhere; asking for a real API off Windows is a clear error."""
    for factory in (
        win32.input_api, win32.desktop_api, win32.duplication_api, win32.overlay_api,
        win32.service_api,
    ):  # fmt: skip
        with pytest.raises(Win32Error, match="Windows only"):
            factory()


def test_importing_loads_no_windows_library() -> None:
    """A fresh interpreter imports every Windows module without loading a DLL binding."""
    code = (
        "import sys, host_agent.platform.windows.win32 as w, "
        "host_agent.platform.windows.backend, host_agent.platform.windows.service; "
        "print(hasattr(w, '_user32'), 'winreg' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_mypy_checks_the_windows_backend_as_windows() -> None:
    """``mypy --platform win32 --strict`` over the Windows backend passes: the bindings under
    ``sys.platform == "win32"`` are type-checked, not only the Linux half."""
    result = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--platform", "win32", "--strict",
            "--cache-dir", str(ROOT / ".mypy_cache" / "win32"),
            "-p", "host_agent.platform.windows",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
