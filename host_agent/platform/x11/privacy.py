"""The privacy screen on X11: the room sees a notice, the viewer sees the desktop.

While a session that asks for it runs (the clinic's ``block_local_input`` setting, as on
Windows: ``platform/windows/privacy.py``), the PC's monitors show "遠隔操作中" and who is
operating instead of patient data, and the PC's own keyboard and mouse do nothing
(``local_input.py``). The remote viewer still sees and uses the desktop.

**How.** The agent becomes the display's compositing manager for the session: Composite
redirects every top-level window off screen (``RedirectSubwindows``, manual mode), so the
X server no longer paints them on the monitors at all, and the notice is painted on the
Composite overlay window, which lies above every window and is what the monitors show.
The overlay's input shape is emptied, so clicks (the viewer's, injected through XTEST) pass
through it to the windows under it. The capture of such a session reads each window's own
off-screen contents and composes the picture itself (``video/composed.py``), never the
root window the monitors show. Ending the session closes this module's X connection, and
the server then puts every window back on screen and frees the overlay by itself: a
crashed agent cannot leave the PC showing the notice.

**Why this and not the alternatives.** It is the one X11 mechanism where what the monitors
show and what the capture reads really differ, so a test can prove it on Xvfb (``GetImage``
of the root window is what a monitor scans out). Switching the monitors off with DPMS
shows nothing at all (no notice) and wakes at the first input, the injected included; an
override-redirect window over the screen would be captured too.

**Limits, said plainly.** Only one compositing manager can redirect a display: under a
compositing desktop (GNOME Shell, KWin, or xfwm4 and picom with compositing on) the
redirection is refused and so is the session (fail closed, as on Windows below build
19041); the install guide says to switch the desktop's compositing off, or the setting.
Windows' translucency and the root background are not composed (``composed.py``), and a
client that reads the screen on the PC itself would see the notice too.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Final

from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import composite, shape

from host_agent.errors import InjectionError
from host_agent.platform.notices import NOTICE_BACKGROUND, render_notice
from host_agent.platform.x11.local_input import LocalInputLock
from host_agent.video.monitors import x11_monitors

log = logging.getLogger(__name__)

# PutImage requests stay well under the X server's request size limit (256 KiB without
# BIG-REQUESTS).
_PUT_BYTES: Final = 128 * 1024


class PrivacyScreen:
    """The notice on every monitor of one X display and its local input held; the
    session's ``InputLock`` when it asks for the privacy screen."""

    def __init__(self, display_name: str, who: str) -> None:
        """Raises:
        InjectionError: no display, or no XInput (from ``LocalInputLock``)."""
        self._display_name = display_name
        self._who = who
        self._inputs = LocalInputLock(display_name)
        self._conn: Any = None
        self.overlay: int | None = None

    def lock(self) -> list[str]:
        """Put the notice up and disable local input; returns the devices' names.

        Raises:
            InjectionError: the display cannot show the notice (no Composite or SHAPE, or
                another compositing manager holds the screen); nothing stays changed.
        """
        try:
            self._redirect()
            self._paint()
        except InjectionError:
            self._release()
            raise
        except (xerror.XError, xerror.ConnectionClosedError, OSError) as exc:
            self._release()
            raise InjectionError(f"the privacy screen cannot be shown: {exc}") from exc
        names = self._inputs.lock()
        log.info("privacy screen up on %s", self._display_name)
        return names

    def _redirect(self) -> None:
        try:
            conn = self._conn = xdisplay.Display(self._display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise InjectionError(f"cannot open display {self._display_name}: {exc}") from exc
        for extension in ("Composite", "SHAPE"):
            if not conn.has_extension(extension):
                raise InjectionError(f"the X server has no {extension} extension")
        conn.composite_query_version()
        refused: list[object] = []
        conn.screen().root.composite_redirect_subwindows(
            composite.RedirectManual, onerror=lambda error, request: refused.append(error)
        )
        conn.sync()
        if refused:
            raise InjectionError(
                "another compositing manager holds the screen (switch the desktop's "
                "compositing off for the privacy screen)"
            )
        overlay = conn.screen().root.composite_get_overlay_window().overlay_window
        self.overlay = int(overlay.id)
        # An empty input shape: pointer events go through to the windows under it.
        overlay.shape_rectangles(shape.SO.Set, shape.SK.Input, X.Unsorted, 0, 0, [])

    def _paint(self) -> None:
        conn = self._conn
        screen = conn.screen()
        overlay = conn.create_resource_object("window", self.overlay)
        r, g, b = NOTICE_BACKGROUND
        gc = overlay.create_gc(foreground=(r << 16) | (g << 8) | b)
        overlay.fill_rectangle(gc, 0, 0, screen.width_in_pixels, screen.height_in_pixels)
        try:
            monitors = x11_monitors(self._display_name)
        except RuntimeError as exc:
            raise InjectionError(str(exc)) from exc
        for monitor in monitors:
            image = render_notice(self._who, monitor.width, monitor.height)
            raw = image.tobytes("raw", "BGRX")
            stride = monitor.width * 4
            rows = max(1, _PUT_BYTES // stride)
            for top in range(0, monitor.height, rows):
                height = min(rows, monitor.height - top)
                overlay.put_image(
                    gc, monitor.left, monitor.top + top, monitor.width, height, X.ZPixmap,
                    screen.root_depth, 0, raw[top * stride : (top + height) * stride],
                )  # fmt: skip
        conn.sync()

    def _release(self) -> None:
        # Closing the connection is what undoes it: the server unredirects the windows
        # and frees the overlay of a client that leaves, however it leaves.
        conn, self._conn = self._conn, None
        self.overlay = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._inputs.close()
        self._release()
        log.info("privacy screen down on %s", self._display_name)
