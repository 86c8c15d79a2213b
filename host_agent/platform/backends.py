"""The one place that picks the desktop system's backend for the agent.

``input/``, ``video/`` and ``session/`` define what they need from the desktop (``Injector``,
``CaptureBackend``, ``Banner``, ``InputLock``); each backend under ``platform/`` implements
it: X11 (``platform/x11``: XTest, XDamage through ``video/``, an override-redirect banner,
XInput device locks) and Windows (``platform/windows``: SendInput, DXGI Desktop Duplication,
overlay windows, the privacy screen), picked by ``sys.platform``. Backends are imported
lazily so that a host without X (or without python-xlib) can still load the agent and be
told plainly what is missing: the reader is a clinic's installer, not a developer.

On Windows every part shares one ``InputDesktop`` (the thread-attachment follower), made
the first time one is asked for, after making the process Per-Monitor-V2 DPI aware.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from host_agent.errors import AgentConfigError, AgentError, InjectionError
from host_agent.input.injection import Injector
from host_agent.video.sources import CaptureBackend

if TYPE_CHECKING:
    from host_agent.platform.windows.desktop import InputDesktop

log = logging.getLogger(__name__)


def open_injector(display: str | None = None) -> Injector:
    """Open the input backend for this host.

    Args:
        display: the X display name (``":0"``); None means ``$DISPLAY``.

    Returns:
        A ready injector; the caller closes it.

    Raises:
        InjectionError: naming what is missing (platform support, display, python-xlib,
            the XTEST extension).
    """
    if sys.platform == "win32":
        from host_agent.platform.windows.backend import open_injector as windows_injector

        return windows_injector(_windows_desktop())
    name = display or os.environ.get("DISPLAY")
    if not name:
        if os.environ.get("WAYLAND_DISPLAY"):
            raise InjectionError(
                "this is a Wayland session without an X display: Mamori needs an X11 "
                "session (or Xwayland with DISPLAY set) to inject input"
            )
        raise InjectionError("no X display: set DISPLAY or pass the display name (e.g. ':0')")
    try:
        # Imported here so that hosts without X (and modules that never inject) need no Xlib.
        from host_agent.platform.x11.injector import X11Injector
    except ImportError as exc:
        raise InjectionError(
            "python-xlib is not installed; install the agent extra: pip install 'mamori[agent]'"
        ) from exc
    return X11Injector(name)


class Banner(Protocol):
    """The on-screen notice on the host that someone is viewing (MHLW.md row 3)."""

    def show(self, text: str) -> None: ...

    def refresh(self) -> None: ...

    def close(self) -> None: ...


class InputLock(Protocol):
    """Holds the host's own keyboard and mouse while a remote person has control."""

    def lock(self) -> list[str]: ...

    def close(self) -> None: ...


@functools.cache
def _windows_desktop() -> InputDesktop:
    from host_agent.platform.windows.backend import open_desktop

    return open_desktop()


def open_capture(display: str | None) -> CaptureBackend | None:
    """The screen track's capture backend; None means the default (X11 on ``display``)."""
    if sys.platform == "win32":
        from host_agent.platform.windows.backend import open_capture as windows_capture

        return windows_capture(_windows_desktop())
    return None


def watch_stop_request(name: str, on_stop: Callable[[], None]) -> None:
    """Call ``on_stop`` when the Windows service signals the named event (``--stop-event``).

    Raises:
        AgentConfigError: not on Windows (elsewhere the agent stops on SIGTERM).
    """
    if sys.platform != "win32":
        raise AgentConfigError("--stop-event is for the Windows service only")
    from host_agent.platform.windows.backend import watch_stop_event

    watch_stop_event(name, on_stop)


def open_banner(display: str | None) -> Banner | None:
    if sys.platform == "win32":
        try:
            from host_agent.platform.windows.backend import open_banner as windows_banner

            return windows_banner()
        except AgentError as exc:
            log.warning("no session banner on the host: %s", exc)
            return None
    if not display:
        return None
    try:
        from host_agent.platform.x11.indicator import SessionIndicator

        return SessionIndicator(display)
    except InjectionError as exc:
        log.warning("no session banner on the host: %s", exc)
        return None


def open_local_input_lock(display: str | None, notice: str = "") -> InputLock | None:
    """The privacy screen: holds the host's own keyboard and mouse during a session and
    shows the room a notice instead of the desktop.

    Args:
        display: the X display (X11).
        notice: who is operating, for the notice that covers the monitors (both systems'
            ``lock`` refuses the session where the notice cannot be guaranteed).
    """
    if sys.platform == "win32":
        from host_agent.platform.windows.backend import open_privacy_screen

        return open_privacy_screen(_windows_desktop(), notice)
    if not display:
        return None
    try:
        from host_agent.platform.x11.privacy import PrivacyScreen

        return PrivacyScreen(display, notice)
    except InjectionError as exc:
        log.warning("local input cannot be locked: %s", exc)
        return None
