"""Block the host's own keyboard and mouse while a remote session is live (a setting).

A clinic may want nobody at the PC to type into the EHR while a doctor drives it from home.
The physical (slave) input devices are disabled through XInput 2's "Device Enabled"
property; the XTEST devices our injector uses are left alone, so remote input still works.
A grab (XGrabKeyboard) would not do: XTEST events go through grabs like real ones and
would be swallowed too.

Thread-safety: one python-xlib connection, used from the agent's asyncio thread only.
"""

from __future__ import annotations

import logging
from typing import Any

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import xinput

from host_agent.errors import InjectionError

log = logging.getLogger(__name__)

_PHYSICAL_USES = (xinput.SlavePointer, xinput.SlaveKeyboard)


class LocalInputLock:
    """Disables the physical input devices of one X display until ``unlock()``."""

    def __init__(self, display_name: str) -> None:
        try:
            self._display: Any = xdisplay.Display(display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise InjectionError(f"cannot open display {display_name}: {exc}") from exc
        if not self._display.has_extension("XInputExtension"):
            self._display.close()
            raise InjectionError("the X server has no XInput extension: cannot lock input")
        self._enabled = self._display.intern_atom("Device Enabled")
        self._xtest = self._display.intern_atom("XTEST Device")
        self._disabled: list[int] = []

    def physical_devices(self) -> list[tuple[int, str]]:
        """(id, name) of every keyboard and pointer a person at the PC uses."""
        devices = self._display.xinput_query_device(xinput.AllDevices).devices
        found = []
        for device in devices:
            if device.use not in _PHYSICAL_USES:
                continue
            properties = self._display.xinput_list_device_properties(device.deviceid).atoms
            if self._xtest in properties:
                continue  # our own injector's virtual devices
            found.append((device.deviceid, str(device.name)))
        return found

    def is_enabled(self, device_id: int) -> bool:
        """Whether the server currently takes input from this device."""
        devices = self._display.xinput_query_device(device_id).devices
        return bool(devices) and bool(devices[0].enabled)

    def lock(self) -> list[str]:
        """Disable the physical devices; returns their names (for the log and the audit)."""
        names = []
        for device_id, name in self.physical_devices():
            self._set_enabled(device_id, enabled=False)
            self._disabled.append(device_id)
            names.append(name)
        self._display.sync()
        log.info("local input locked: %s", ", ".join(names) or "(no physical devices)")
        return names

    def unlock(self) -> None:
        """Enable again exactly the devices ``lock()`` disabled."""
        try:
            for device_id in self._disabled:
                self._set_enabled(device_id, enabled=True)
            self._display.sync()
        except (xerror.ConnectionClosedError, OSError):
            log.warning("display gone before local input could be unlocked")
        self._disabled.clear()

    def close(self) -> None:
        self.unlock()
        try:
            self._display.close()
        except (xerror.ConnectionClosedError, OSError):
            log.debug("display already gone")

    def _set_enabled(self, device_id: int, *, enabled: bool) -> None:
        self._display.xinput_change_device_property(
            device_id, self._enabled, Xatom.INTEGER, X.PropModeReplace, (8, [int(enabled)])
        )
