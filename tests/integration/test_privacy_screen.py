"""The privacy screen on X11, for real: with the clinic's setting on, the PC's monitors (what
``GetImage`` of the root window returns: what a monitor scans out) show the notice while the
viewer's picture shows the EHR and its changes; local devices are off, remote input reaches
the EHR through the notice; when the session ends the desktop is back on the monitors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from Xlib import X
from Xlib import display as xdisplay

from devkit.broker import RunningBroker
from devkit.display import SampleApp, XvfbDisplay
from devkit.identity import Org, SignedIn
from host_agent.link.broker_link import BrokerLink
from host_agent.platform.notices import NOTICE_BACKGROUND
from host_agent.platform.x11.local_input import LocalInputLock
from tests.conftest import HOST_ID
from tests.support.clinic_settings import set_clinic_settings
from tests.support.viewer import AiortcViewer, aiortc_viewer

pytestmark = [pytest.mark.integration, pytest.mark.display]

HEADER_RGB = (0x1E, 0x6B, 0x5C)  # the sample app's header bar colour


def physical_output(name: str) -> np.ndarray:
    """What the monitors show: the root window's pixels, RGB."""
    conn: Any = xdisplay.Display(name)
    try:
        screen = conn.screen()
        w, h = screen.width_in_pixels, screen.height_in_pixels
        image = conn.screen().root.get_image(0, 0, w, h, X.ZPixmap, 0xFFFFFFFF)
        bgrx = np.frombuffer(image.data, dtype=np.uint8).reshape(h, w, 4)
        return bgrx[..., [2, 1, 0]]
    finally:
        conn.close()


def median(rgb: np.ndarray, x: int, y: int, w: int, h: int) -> tuple[int, ...]:
    return tuple(int(c) for c in np.median(rgb[y : y + h, x : x + w].reshape(-1, 3), axis=0))


def near(found: tuple[int, ...], wanted: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(found, wanted, strict=True))


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def viewer_frame(viewer: AiortcViewer) -> np.ndarray:
    return (await viewer.next_frame()).to_ndarray(format="rgb24")


def physical_devices(name: str) -> list[int]:
    """The ids of the display's keyboard and mouse (read while they are enabled: XInput
    lists a disabled device as floating, no longer as a keyboard or mouse)."""
    probe = LocalInputLock(name)
    try:
        return [device_id for device_id, _ in probe.physical_devices()]
    finally:
        probe.close()


def devices_enabled(name: str, ids: list[int]) -> list[bool]:
    probe = LocalInputLock(name)  # only asked: it disables nothing itself
    try:
        return [probe.is_enabled(device_id) for device_id in ids]
    finally:
        probe.close()


async def test_the_room_sees_the_notice_the_viewer_sees_the_ehr(
    broker: RunningBroker,
    org: Org,
    user: SignedIn,
    xvfb: XvfbDisplay,
    sample_app: SampleApp,
    agent: BrokerLink,
) -> None:
    await set_clinic_settings(broker, org, privacy_screen="always")
    ids = physical_devices(xvfb.name)
    assert len(ids) == 2
    before = physical_output(xvfb.name)
    assert near(median(before, 1150, 6, 120, 14), HEADER_RGB)  # the EHR, before the session
    async with aiortc_viewer(broker, user, HOST_ID) as viewer:
        await wait_until(lambda: agent.session is not None and agent.session.track is not None)
        rgb = await viewer_frame(viewer)
        assert near(median(rgb, 1150, 6, 120, 14), HEADER_RGB)  # the viewer: the EHR
        await wait_until(lambda: devices_enabled(xvfb.name, ids) == [False, False])
        screen = physical_output(xvfb.name)
        # The monitors: the notice's calm blue everywhere, the EHR's header nowhere, and
        # text (white) in the middle.
        assert near(median(screen, 0, 0, 1280, 720), NOTICE_BACKGROUND)
        assert near(median(screen, 1150, 6, 120, 14), NOTICE_BACKGROUND)
        middle = screen[260:460, 240:1040]
        assert (middle.min(axis=-1) > 220).sum() > 500
        assert not (np.abs(screen.astype(int) - HEADER_RGB).max(axis=-1) < 8).any()

        # Remote input goes through the notice into the EHR; its drawing reaches the
        # viewer (per-window damage) and never the monitors.
        await wait_until(lambda: viewer.input.readyState == "open")
        x, y, w, h = sample_app.state()["geometry"]["notes"]
        notes_before = rgb[y : y + h, x : x + w].astype(int)
        cx, cy = x + w // 2, y + h // 2
        for kind in ("down", "up"):
            await viewer.send_input(json.dumps({"t": kind, "b": 0, "x": cx, "y": cy}))
        for _ in range(12):
            for down in (True, False):
                await viewer.send_input(
                    json.dumps({"t": "key", "code": "KeyW", "key": "W", "down": down})
                )
        await sample_app.wait_for_async(lambda s: "WWWWWWWWWWWW" in s["notes"])

        async def notes_changed() -> bool:
            frame = await viewer_frame(viewer)
            return bool(np.abs(frame[y : y + h, x : x + w].astype(int) - notes_before).max() > 80)

        for _ in range(100):
            if await notes_changed():
                break
        else:
            raise AssertionError("the typed text never reached the viewer's picture")
        screen = physical_output(xvfb.name)
        assert near(median(screen[y : y + h, x : x + w], 0, 0, w, h), NOTICE_BACKGROUND)

    # The session over: the desktop is back on the monitors, local input too.
    await wait_until(lambda: agent.session is None)
    await wait_until(lambda: devices_enabled(xvfb.name, ids) == [True, True])
    await wait_until(lambda: near(median(physical_output(xvfb.name), 1150, 6, 120, 14), HEADER_RGB))
