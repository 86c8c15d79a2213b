"""The one place that picks the desktop system's backend for the agent.

``input/`` and ``session/`` define what they need from the desktop (``Injector``, ``Banner``,
``InputLock``); each backend under ``platform/`` implements it. Only X11 exists today; a
Windows backend plugs in here without ``video/`` or ``input/`` changing. Backends are
imported lazily so that a host without X (or without python-xlib) can still load the agent
and be told plainly what is missing: the reader is a clinic's installer, not a developer.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Protocol

from host_agent.errors import InjectionError
from host_agent.input.injection import Injector

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
        raise InjectionError(
            "input injection on Windows (SendInput backend) is not implemented yet"
        )
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


def open_banner(display: str | None) -> Banner | None:
    if not display:
        return None
    try:
        from host_agent.platform.x11.indicator import SessionIndicator

        return SessionIndicator(display)
    except InjectionError as exc:
        log.warning("no session banner on the host: %s", exc)
        return None


def open_local_input_lock(display: str | None) -> InputLock | None:
    if not display:
        return None
    try:
        from host_agent.platform.x11.local_input import LocalInputLock

        return LocalInputLock(display)
    except InjectionError as exc:
        log.warning("local input cannot be locked: %s", exc)
        return None
