"""Exceptions of the Windows backend.

Exception tree (``host_agent.errors`` holds the agent's base classes)::

    AgentError
    ├── Win32Error              one Win32 or COM call failed: ``call`` and ``code`` (an
    │                           HRESULT as an unsigned 32-bit value, or a GetLastError code);
    │                           raised by the thin module (``win32.py``) only, and judged by
    │                           the pure modules (a DXGI timeout is not a failure at all)
    ├── CaptureError
    │   └── OutputGone          the captured monitor was unplugged or changed size: the
    │                           session must start again to learn the new layout
    ├── InjectionError
    │   └── DpiUnaware          the virtual desktop Windows reports for SendInput and the
    │                           monitors' physical rectangles disagree: DPI virtualisation is
    │                           on, and a click would land in the wrong place
    └── AgentConfigError
        └── ServiceCommandError install/uninstall/start cannot be done (not an
                                administrator, not Windows, the service is missing)
"""

from __future__ import annotations

from host_agent.errors import AgentConfigError, AgentError, CaptureError, InjectionError


class Win32Error(AgentError):
    """A Win32 or COM call failed.

    Attributes:
        call: the function or method, e.g. ``"IDXGIOutputDuplication::AcquireNextFrame"``.
        code: the HRESULT (unsigned, e.g. ``0x887A0027``) or the GetLastError value.
    """

    def __init__(self, call: str, code: int, detail: str = "") -> None:
        self.call = call
        self.code = code & 0xFFFFFFFF
        text = f"{call} failed: 0x{self.code:08X}"
        super().__init__(f"{text} ({detail})" if detail else text)


class OutputGone(CaptureError):
    """The captured monitor is no longer there as it was when the session began."""


class DpiUnaware(InjectionError):
    """SendInput's virtual desktop and the physical monitor layout disagree."""


class ServiceCommandError(AgentConfigError):
    """A service command (install, uninstall, start, stop) cannot be carried out."""
