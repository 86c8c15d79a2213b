"""A banner on the host's own screen while a remote session is live, naming who is connected.

MHLW.md rows 11–12: people in the clinic must be able to see that someone is operating the
PC remotely, and who. The banner is an override-redirect X window (no window manager can
hide or move it), re-raised and redrawn every second by ``refresh()`` so other windows
cannot cover it for long. Its text is rendered with Pillow (core X fonts lack Japanese on
many systems) and put into the window as an image.

It is part of the screen, so the remote viewer sees it too: nobody is watched unknowingly.
Thread-safety: one python-xlib connection, used from the agent's asyncio thread only.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from PIL import Image
from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror

from host_agent.errors import InjectionError
from host_agent.platform.notices import BACKGROUND, render_banner

log = logging.getLogger(__name__)

WINDOW_NAME: Final = "Mamori remote session"
__all__ = ["BACKGROUND", "WINDOW_NAME", "SessionIndicator", "render_banner"]


class SessionIndicator:
    """Shows and hides the banner on one X display."""

    def __init__(self, display_name: str) -> None:
        try:
            self._display: Any = xdisplay.Display(display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise InjectionError(f"cannot open display {display_name}: {exc}") from exc
        self._screen = self._display.screen()
        self._window: Any = None
        self._gc: Any = None
        self._image: Image.Image | None = None
        self.text: str | None = None

    def show(self, text: str) -> None:
        """Put the banner up (or change its text) at the top centre of the screen."""
        self.hide()
        image = render_banner(text)
        x = max(0, (self._screen.width_in_pixels - image.width) // 2)
        self._window = self._screen.root.create_window(
            x,
            0,
            image.width,
            image.height,
            0,
            self._screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            override_redirect=True,
            background_pixel=self._screen.black_pixel,
            backing_store=X.Always,
        )
        # WM_NAME is Latin-1 only; the Japanese text goes into the UTF-8 _NET_WM_NAME.
        self._window.set_wm_name(WINDOW_NAME)
        self._window.change_property(
            self._display.intern_atom("_NET_WM_NAME"),
            self._display.intern_atom("UTF8_STRING"),
            8,
            f"{WINDOW_NAME}: {text}".encode(),
        )
        self._gc = self._window.create_gc()
        self._window.map()
        self._image = image
        self.text = text
        self.refresh()
        log.info("session indicator shown: %s", text)

    def refresh(self) -> None:
        """Raise the banner above every other window and redraw it."""
        if self._window is None or self._image is None:
            return
        try:
            self._window.configure(stack_mode=X.Above)
            self._window.put_image(
                self._gc,
                0,
                0,
                self._image.width,
                self._image.height,
                X.ZPixmap,
                self._screen.root_depth,
                0,
                self._image.tobytes("raw", "BGRX"),
            )
            self._display.sync()
        except (xerror.ConnectionClosedError, OSError):
            log.warning("display gone: session indicator cannot be drawn")

    def hide(self) -> None:
        if self._window is None:
            return
        try:
            self._window.destroy()
            self._display.sync()
        except (xerror.ConnectionClosedError, OSError):
            log.debug("display already gone")
        self._window = None
        self._image = None
        self.text = None

    def close(self) -> None:
        self.hide()
        try:
            self._display.close()
        except (xerror.ConnectionClosedError, OSError):
            log.debug("display already gone")
