"""Blocking the host's own keyboard and mouse while remote input keeps working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.display import SampleApp, XvfbDisplay, start_sample_app, start_xvfb
from host_agent.input.events import parse_input
from host_agent.platform.x11.injector import X11Injector
from host_agent.platform.x11.local_input import LocalInputLock

pytestmark = pytest.mark.display


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[tuple[XvfbDisplay, SampleApp]]:
    with (
        start_xvfb(1280, 720) as display,
        start_sample_app(display, tmp_path / "state.json") as app,
    ):
        yield display, app


def test_lock_disables_physical_devices_only_and_unlock_restores_them(
    desktop: tuple[XvfbDisplay, SampleApp],
) -> None:
    """Xvfb's keyboard and mouse are disabled while locked; the XTEST devices are not."""
    display, _ = desktop
    lock = LocalInputLock(display.name)
    try:
        devices = lock.physical_devices()
        assert sorted(name for _, name in devices) == ["Xvfb keyboard", "Xvfb mouse"]
        assert sorted(lock.lock()) == ["Xvfb keyboard", "Xvfb mouse"]
        assert not any(lock.is_enabled(device_id) for device_id, _ in devices)
        lock.unlock()
        assert all(lock.is_enabled(device_id) for device_id, _ in devices)
    finally:
        lock.close()


def test_remote_input_still_reaches_the_app_while_locked(
    desktop: tuple[XvfbDisplay, SampleApp],
) -> None:
    """With local input locked, keys injected through XTEST still type into the EHR."""
    display, app = desktop
    lock = LocalInputLock(display.name)
    try:
        lock.lock()
        with X11Injector(display.name) as injector:
            for down in (True, False):
                injector.inject(
                    parse_input(
                        json.dumps({"t": "key", "code": "KeyQ", "key": "q", "down": down}),
                        1280,
                        720,
                    )
                )
        app.wait_for(lambda state: "q" in state["notes"])
    finally:
        lock.close()
