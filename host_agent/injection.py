"""Where validated input events reach the host's desktop.

``Injector`` is the one interface the session code uses; a backend per desktop system
implements it. Today there is X11 (``x11_input.X11Injector``, via XTEST); a Windows backend
(``SendInput``) can follow without the session code changing. ``open_injector`` picks the
backend and says plainly what is missing when none can run, because the person reading the
message is a clinic's installer, not a developer.

The events reaching an injector have already passed ``input_events.parse_input`` (closed
schema, coordinates inside the screen); an injector adds no parsing of its own.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

from host_agent.errors import InjectionError
from host_agent.input_events import InputEvent

__all__ = ["InjectionError", "Injector", "open_injector"]


class Injector(Protocol):
    """Injects keyboard and pointer events into the host's desktop.

    Implementations are not thread-safe: the agent calls them from its asyncio thread only.
    """

    def inject(self, event: InputEvent) -> None:
        """Inject one event; events that map to nothing on this desktop are dropped.

        Raises:
            InjectionError: the desktop connection is gone.
        """
        ...

    def release_all(self) -> None:
        """Release every key and button this injector holds down."""
        ...

    def close(self) -> None:
        """Release everything, undo temporary changes (key bindings) and disconnect."""
        ...


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
        from host_agent.x11_input import X11Injector
    except ImportError as exc:
        raise InjectionError(
            "python-xlib is not installed; install the agent extra: pip install 'mamori[agent]'"
        ) from exc
    return X11Injector(name)
