"""Where validated input events reach the host's desktop.

``Injector`` is the one interface the session code uses; a backend per desktop system
implements it. Today there is X11 (``platform.x11.injector.X11Injector``, via XTEST); a
Windows backend (``SendInput``) can follow without the session code changing.
``platform.backends.open_injector`` picks the backend.

The events reaching an injector have already passed ``input_events.parse_input`` (closed
schema, coordinates inside the screen); an injector adds no parsing of its own.
"""

from __future__ import annotations

from typing import Protocol

from host_agent.errors import InjectionError
from host_agent.input.events import InputEvent

__all__ = ["InjectionError", "Injector"]


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
