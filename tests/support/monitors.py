"""Two monitors of different sizes on one Xvfb, each painted its own colour, for the
integration and browser tests of the monitor switcher."""

from __future__ import annotations

from typing import Any

from Xlib import X
from Xlib import display as xdisplay

LEFT = (0, 0, 800, 600)  # the primary
RIGHT = (800, 0, 640, 480)  # smaller, top-aligned: the framebuffer is 1440x600
LEFT_RGB = (0xC0, 0x30, 0x30)
RIGHT_RGB = (0x30, 0x40, 0xC0)
NEW_RIGHT_RGB = (0x30, 0xB0, 0x40)


class Painted:
    """One colour window over each monitor; records the button presses each receives."""

    def __init__(self, name: str) -> None:
        self.conn: Any = xdisplay.Display(name)
        screen = self.conn.screen()
        self.windows = {}
        for key, (left, top, w, h), rgb in (("left", LEFT, LEFT_RGB), ("right", RIGHT, RIGHT_RGB)):
            window = screen.root.create_window(
                left, top, w, h, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
                background_pixel=(rgb[0] << 16) | (rgb[1] << 8) | rgb[2],
                override_redirect=True, event_mask=X.ButtonPressMask,
            )  # fmt: skip
            window.map()
            self.windows[window.id] = key
        self.conn.sync()
        self.presses: list[tuple[str, int, int, int, int]] = []

    def repaint(self, key: str, rgb: tuple[int, int, int]) -> None:
        """Draw on one monitor (a damage the capture must notice there)."""
        window_id = next(w for w, k in self.windows.items() if k == key)
        window = self.conn.create_resource_object("window", window_id)
        window.change_attributes(background_pixel=(rgb[0] << 16) | (rgb[1] << 8) | rgb[2])
        window.clear_area()
        self.conn.sync()

    def drain(self) -> None:
        while self.conn.pending_events():
            event = self.conn.next_event()
            if event.type == X.ButtonPress:
                key = self.windows.get(event.window.id, "?")
                self.presses.append((key, event.event_x, event.event_y, event.root_x, event.root_y))

    def close(self) -> None:
        self.conn.close()
