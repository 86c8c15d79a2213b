"""Fingers on the viewer page, as a tablet's touch screen gives them to Chromium.

CDP ``Emulation.setTouchEmulationEnabled`` makes the page a touch device and
``Input.dispatchTouchEvent`` puts fingers on it: the page sees Pointer Events of type
``touch``. Points are page (CSS) pixels; a finger's id is its place in the list, so the
same list order keeps the same finger across a stroke.
"""

from __future__ import annotations

import math
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Locator, Page

Point = tuple[float, float]

# The widest host screen the e2e tests run (devkit/display.py start_xvfb's default).
HOST_WIDTH, HOST_HEIGHT = 1280, 720
# core/gestures.js TAP_SLOP_PX: a finger that moved less is still a tap.
TAP_SLOP_PX = 10


async def touch_screen(browser: BrowserContext, page: Page) -> CDPSession:
    """A CDP session on ``page`` with touch emulation on (five fingers)."""
    cdp = await browser.new_cdp_session(page)
    await cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    return cdp


async def touch(cdp: CDPSession, kind: str, points: list[Point]) -> None:
    """One touch event: ``touchStart``, ``touchMove`` or ``touchEnd`` (no points)."""
    touch_points: list[dict[str, Any]] = [
        {"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)
    ]
    await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})


async def tap(cdp: CDPSession, *points: Point) -> None:
    """Fingers down and up together at ``points`` (one: a tap; two: a two-finger tap)."""
    await touch(cdp, "touchStart", list(points))
    await touch(cdp, "touchEnd", [])


async def middle_of(locator: Locator) -> Point:
    await locator.wait_for(state="visible")
    box = await locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


async def tap_element(cdp: CDPSession, locator: Locator) -> None:
    """A tap in the middle of a page element (a toolbar button)."""
    await tap(cdp, await middle_of(locator))


async def stroke(cdp: CDPSession, start: list[Point], end: list[Point], steps: int = 10) -> None:
    """Fingers down at ``start``, moved in ``steps`` even steps to ``end``, lifted: a drag
    with one finger, a scroll or a pinch with two (fingers apart or together)."""
    assert len(start) == len(end)
    assert steps > 0
    await touch(cdp, "touchStart", start)
    for step in range(1, steps + 1):
        f = step / steps
        pairs = zip(start, end, strict=True)
        here = [(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f) for a, b in pairs]
        await touch(cdp, "touchMove", here)
    await touch(cdp, "touchEnd", [])


async def zoom(page: Page) -> float:
    """The picture's local zoom factor (app/input_capture.js body[data-zoom])."""
    return float(await page.evaluate("() => document.body.dataset.zoom"))


async def stage_box(page: Page) -> dict[str, float]:
    """The video's untransformed box (the stage it fills), in page pixels."""
    box = await page.locator(".video-stage").bounding_box()
    assert box is not None
    return box


async def host_at_fit(page: Page, x: float, y: float) -> Point:
    """The host pixel an unzoomed mapping would give for page point (x, y)."""
    box = await stage_box(page)
    scale = min(box["width"] / HOST_WIDTH, box["height"] / HOST_HEIGHT)
    left = box["x"] + (box["width"] - HOST_WIDTH * scale) / 2
    top = box["y"] + (box["height"] - HOST_HEIGHT * scale) / 2
    return (x - left) / scale, (y - top) / scale


async def trackpad_cursor_to(
    page: Page, cdp: CDPSession, target: Point, within: float = 4
) -> Point:
    """In trackpad mode, stroke one finger (lifting and placing it again, as on a laptop)
    until the viewer's cursor is within ``within`` host pixels of ``target`` (host pixels),
    at most 12 strokes; returns where the strokes started (a tap there clicks at the cursor).

    A stroke's first pixels, up to the tap slop (core/gestures.js TAP_SLOP_PX), do not move
    the cursor (and a stroke within the slop would be a tap, a click): every stroke is made
    that much longer."""
    stage = await stage_box(page)
    start = (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    # Host pixels per screen pixel at fit, as the picture is shown.
    ratio = max(HOST_WIDTH / stage["width"], HOST_HEIGHT / stage["height"])
    for strokes in range(13):
        cursor = await page.evaluate("() => [window.mamoriCursor.x, window.mamoriCursor.y]")
        here = cursor if cursor[0] is not None else (HOST_WIDTH // 2, HOST_HEIGHT // 2)
        if abs(here[0] - target[0]) <= within and abs(here[1] - target[1]) <= within:
            return start
        if strokes == 12:
            break
        dx = max(-200.0, min(200.0, (target[0] - here[0]) / ratio))
        dy = max(-200.0, min(200.0, (target[1] - here[1]) / ratio))
        length = math.hypot(dx, dy)
        longer = (length + TAP_SLOP_PX) / length
        await stroke(cdp, [start], [(start[0] + dx * longer, start[1] + dy * longer)])
    raise AssertionError(f"the trackpad cursor did not reach {target}: at {here}")
