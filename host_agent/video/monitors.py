"""The monitors of an X display, as RandR 1.5 reports them (``XRRGetMonitors``).

mss lists CRTCs, which is not what a person calls a monitor: a server may show one monitor
over two CRTCs, or define monitors inside one framebuffer (``xrandr --setmonitor``, which
is also how the tests build two monitors of different sizes on one Xvfb). RandR 1.5
monitors are what desktops use to place panels and maximise windows, so they are what the
viewer's switcher lists. Without RandR 1.5 the whole screen is one monitor.

Ids are positions in reading order (left to right, then top to bottom), so that "monitor 1"
in the viewer is the left one however the server orders its list. Areas are clipped to the
screen; an area that lies wholly off it is left out.
"""

from __future__ import annotations

import logging

from mamori_protocol.monitors import MAX_MONITORS, Monitor

log = logging.getLogger(__name__)


def x11_monitors(display_name: str | None) -> list[Monitor]:
    """The display's monitors (at least one: the whole screen).

    Raises:
        RuntimeError: no connection to the display.
    """
    from Xlib import display as xdisplay
    from Xlib import error as xerror

    try:
        conn = xdisplay.Display(display_name)
    except (xerror.DisplayError, OSError) as exc:
        raise RuntimeError(f"cannot open display {display_name}: {exc}") from exc
    try:
        screen = conn.screen()
        width, height = int(screen.width_in_pixels), int(screen.height_in_pixels)
        areas = _randr_areas(conn, screen.root)
    finally:
        conn.close()
    return number_monitors(areas, width, height)


def number_monitors(
    areas: list[tuple[int, int, int, int, bool]], width: int, height: int
) -> list[Monitor]:
    """Clip (left, top, width, height, primary) areas to the screen and number them in
    reading order; the whole screen when none is left."""
    clipped = []
    for left, top, w, h, primary in areas:
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + w, width), min(top + h, height)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            clipped.append((x0, y0, x1 - x0, y1 - y0, primary))
    if not clipped:
        clipped = [(0, 0, width, height, True)]
    clipped.sort(key=lambda a: (a[0], a[1]))
    if len(clipped) > MAX_MONITORS:
        log.warning("%d monitors: only the first %d are offered", len(clipped), MAX_MONITORS)
        clipped = clipped[:MAX_MONITORS]
    # At most one primary; a server may name none (then the first one is the default).
    seen_primary = False
    monitors = []
    for index, (x, y, w, h, primary) in enumerate(clipped):
        primary = primary and not seen_primary
        seen_primary = seen_primary or primary
        monitors.append(Monitor(index, x, y, w, h, primary))
    return monitors


def _randr_areas(conn: object, root: object) -> list[tuple[int, int, int, int, bool]]:
    from Xlib.ext import randr

    try:
        if not conn.has_extension("RANDR"):  # type: ignore[attr-defined]
            return []
        version = conn.xrandr_query_version()  # type: ignore[attr-defined]
        if (version.major_version, version.minor_version) < (1, 5):
            return []
        reply = randr.get_monitors(root, True)
    except Exception as exc:  # an old server or an Xlib without RandR 1.5
        log.warning("RandR monitors unavailable (%s): the whole screen is one monitor", exc)
        return []
    return [
        (int(m.x), int(m.y), int(m.width_in_pixels), int(m.height_in_pixels), bool(m.primary))
        for m in reply.monitors
    ]
