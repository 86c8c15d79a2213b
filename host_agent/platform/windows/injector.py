"""Windows input injection: validated input events -> ``INPUT`` structures for SendInput.

Keys are sent as scan codes (``KEYEVENTF_SCANCODE``, ``KEYEVENTF_EXTENDEDKEY`` for ``E0``
keys; ``keymap.py``), so that the host's IME sees the key presses a local keyboard would
make: the viewer's 半角/全角, 変換, 無変換 and かな drive the clinic PC's IME, and the clinic
PC's keyboard layout decides the characters (as with RDP). A ``key`` without a usable
``code`` (an on-screen keyboard) is typed as Unicode (``KEYEVENTF_UNICODE``). The browser
repeats a held key itself; each repeat is sent as another key-down, as a keyboard does.

Ctrl+Alt+Del cannot be injected (Windows reserves it, the Secure Attention Sequence): when
Delete goes down while the viewer holds Ctrl and Alt, the injector calls ``SendSAS``
instead (this needs the agent to run as LocalSystem and the SoftwareSASGeneration policy
that ``service install`` sets).

The pointer moves in absolute coordinates over the whole virtual desktop
(``MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK``): the events carry virtual-desktop
pixels (the captured monitor's offset is added by the session), normalised to 0..65535 as
``ceil((x - left) * 65536 / width)``, the smallest value that Windows' ``n * width / 65536``
maps back to pixel ``x`` (whether Windows truncates or rounds: a virtual desktop narrower
than 32768 pixels keeps the error below half a pixel). The agent is Per-Monitor-V2 DPI
aware, so monitors with different scale factors are all in physical pixels; the injector
checks that the virtual desktop Windows reports is exactly the union of the monitors and
refuses to inject otherwise (``DpiUnaware``): with DPI virtualisation a click would land
somewhere else, and clicking the wrong row of a patient list is worse than not clicking.
For the same reason a press or a wheel turn at a point on no monitor is not sent (the
black gap beside a shorter monitor when all monitors are shown as one desktop, or the
area of a monitor unplugged meanwhile): Windows would move it to the nearest monitor's
edge, onto whatever is there (the taskbar). Moves and releases there are sent (a drag
may end outside; the pointer then stops at the edge).

Every event carries ``MAMORI_INPUT_TAG`` in ``dwExtraInfo`` so that the privacy screen's
hooks can tell it from the keyboard on the desk. Which structures are sent for a sequence
of events is proven by the Linux tests, field by field; that Windows acts on them as
intended (IME, the secure desktop, the edges of each monitor) only on a real PC.

Threads: the session's injection queue calls the injector from a worker thread, which
may differ from call to call, while the agent may release or close it from its own. A lock
serialises the calls, and a call on a thread other than the previous one attaches that
thread to the input desktop afresh (``SetThreadDesktop`` is per thread).
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from host_agent.errors import InjectionError
from host_agent.input.events import (
    InputEvent,
    Key,
    PointerButton,
    PointerMove,
    ReleaseAll,
    Text,
    Wheel,
)
from host_agent.platform.windows.desktop import InputDesktop
from host_agent.platform.windows.errors import DpiUnaware, Win32Error
from host_agent.platform.windows.keymap import ScanCode, stroke_for
from host_agent.platform.windows.win32 import (
    INPUT,
    INPUT_KEYBOARD,
    INPUT_MOUSE,
    KEYEVENTF_EXTENDEDKEY,
    KEYEVENTF_KEYUP,
    KEYEVENTF_SCANCODE,
    KEYEVENTF_UNICODE,
    MAMORI_INPUT_TAG,
    MOUSEEVENTF_ABSOLUTE,
    MOUSEEVENTF_HWHEEL,
    MOUSEEVENTF_LEFTDOWN,
    MOUSEEVENTF_LEFTUP,
    MOUSEEVENTF_MIDDLEDOWN,
    MOUSEEVENTF_MIDDLEUP,
    MOUSEEVENTF_MOVE,
    MOUSEEVENTF_RIGHTDOWN,
    MOUSEEVENTF_RIGHTUP,
    MOUSEEVENTF_VIRTUALDESK,
    MOUSEEVENTF_WHEEL,
    MOUSEEVENTF_XDOWN,
    MOUSEEVENTF_XUP,
    WHEEL_DELTA,
    XBUTTON1,
    XBUTTON2,
    Box,
    InputApi,
)

log = logging.getLogger(__name__)

# MouseEvent.button -> (down flag, up flag, mouseData).
BUTTONS: Final[dict[int, tuple[int, int, int]]] = {
    0: (MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP, 0),
    1: (MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP, 0),
    2: (MOUSEEVENTF_RIGHTDOWN, MOUSEEVENTF_RIGHTUP, 0),
    3: (MOUSEEVENTF_XDOWN, MOUSEEVENTF_XUP, XBUTTON1),  # back
    4: (MOUSEEVENTF_XDOWN, MOUSEEVENTF_XUP, XBUTTON2),  # forward
}
_ABSOLUTE: Final = MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK
_CTRL: Final = frozenset({(0x1D, False), (0x1D, True)})
_ALT: Final = frozenset({(0x38, False), (0x38, True)})
_DELETE: Final = (0x53, True)
_SAS: Final = ScanCode(0)  # marks a Delete that became Ctrl+Alt+Del: its release sends nothing


def normalize(x: int, y: int, screen: Box) -> tuple[int, int]:
    """Virtual-desktop pixel -> SendInput's 0..65535 absolute coordinates (module doc)."""
    nx = -(-(x - screen.left) * 65536 // screen.width)
    ny = -(-(y - screen.top) * 65536 // screen.height)
    return min(max(nx, 0), 65535), min(max(ny, 0), 65535)


def check_layout(screen: Box, monitors: list[Box]) -> None:
    """Refuse a virtual desktop that is not the bounding box of the physical monitors.

    Raises:
        DpiUnaware: they disagree (the process is not Per-Monitor-V2 aware).
    """
    if not monitors:
        raise DpiUnaware("Windows reports no monitors: nowhere to point")
    union = Box(
        min(m.left for m in monitors),
        min(m.top for m in monitors),
        max(m.right for m in monitors),
        max(m.bottom for m in monitors),
    )
    if union != screen:
        raise DpiUnaware(
            f"the virtual desktop {tuple(screen)} is not the monitors' {tuple(union)}: "
            "DPI virtualisation is on, so pointer positions would be wrong"
        )


def key_input(scan: ScanCode, up: bool, tag: int = MAMORI_INPUT_TAG) -> INPUT:
    """The ``INPUT`` for one key transition."""
    event = INPUT(type=INPUT_KEYBOARD)
    flags = (KEYEVENTF_EXTENDEDKEY if scan.extended else 0) | (KEYEVENTF_KEYUP if up else 0)
    if scan.vk:
        event.ki.wVk = scan.vk
    else:
        flags |= KEYEVENTF_SCANCODE
    event.ki.wScan = scan.make
    event.ki.dwFlags = flags
    event.ki.dwExtraInfo = tag
    return event


def text_inputs(char: str, tag: int = MAMORI_INPUT_TAG) -> list[INPUT]:
    """``KEYEVENTF_UNICODE`` down and up for each UTF-16 unit of one character."""
    encoded = char.encode("utf-16-le")
    inputs = []
    for index in range(0, len(encoded), 2):
        unit = int.from_bytes(encoded[index : index + 2], "little")
        for flags in (KEYEVENTF_UNICODE, KEYEVENTF_UNICODE | KEYEVENTF_KEYUP):
            event = INPUT(type=INPUT_KEYBOARD)
            event.ki.wScan = unit
            event.ki.dwFlags = flags
            event.ki.dwExtraInfo = tag
            inputs.append(event)
    return inputs


def mouse_input(
    flags: int, dx: int = 0, dy: int = 0, data: int = 0, tag: int = MAMORI_INPUT_TAG
) -> INPUT:
    """The ``INPUT`` for one pointer event; ``data`` may be negative (wheel)."""
    event = INPUT(type=INPUT_MOUSE)
    event.mi.dx = dx
    event.mi.dy = dy
    event.mi.mouseData = data & 0xFFFFFFFF
    event.mi.dwFlags = flags
    event.mi.dwExtraInfo = tag
    return event


class WindowsInjector:
    """SendInput injector; see the module docstring."""

    def __init__(self, api: InputApi, desktop: InputDesktop | None = None) -> None:
        """Check the monitor layout once.

        Raises:
            DpiUnaware: see ``check_layout``.
        """
        self._api = api
        self._desktop = desktop
        self._attached = 0
        # KeyboardEvent.code (or "key:<key>") -> the scan code pressed for it, in order.
        self._held_keys: dict[str, ScanCode] = {}
        self._held_buttons: dict[int, tuple[int, int, int]] = {}
        self._monitors: list[Box] = []
        self._screen = self._checked_screen()
        self.dropped = 0
        self.outside = 0  # presses and wheel turns on no monitor, not sent
        self._lock = threading.RLock()
        self._thread = threading.get_ident()

    # -- Injector protocol ----------------------------------------------------------------

    def inject(self, event: InputEvent) -> None:
        """Send the structures for one validated event.

        Raises:
            InjectionError: the layout became DPI-virtualised (``DpiUnaware``).
        """
        with self._lock:
            self._inject(event)

    def _inject(self, event: InputEvent) -> None:
        self._follow_desktop()
        if isinstance(event, ReleaseAll):
            self.release_all()
            return
        if isinstance(event, Key):
            self._send(self._key(event))
            return
        if isinstance(event, Text):
            # The viewer's composed text, one SendInput call for the whole message so that
            # no other input lands between its characters.
            self._send([unit for char in event.text for unit in text_inputs(char)])
            return
        screen = self._api.virtual_screen()
        if screen != self._screen:
            self._screen = self._checked_screen()  # a monitor came, went or moved
        pressing = isinstance(event, Wheel) or (isinstance(event, PointerButton) and event.pressed)
        if pressing and not any(_on(m, event.x, event.y) for m in self._monitors):
            self.outside += 1
            log.debug("press at %d,%d is on no monitor: not sent", event.x, event.y)
            return
        dx, dy = normalize(event.x, event.y, self._screen)
        if isinstance(event, PointerMove):
            self._send([mouse_input(_ABSOLUTE, dx, dy)])
        elif isinstance(event, PointerButton):
            self._send([self._button(event, dx, dy)])
        elif isinstance(event, Wheel):
            inputs = [mouse_input(_ABSOLUTE, dx, dy)]
            # WheelEvent dy > 0 scrolls down; Windows' positive wheel turns away from the user
            # (up). Horizontal: both say "right" with positive values.
            if event.dy:
                inputs.append(mouse_input(MOUSEEVENTF_WHEEL, data=-event.dy * WHEEL_DELTA))
            if event.dx:
                inputs.append(mouse_input(MOUSEEVENTF_HWHEEL, data=event.dx * WHEEL_DELTA))
            self._send(inputs)

    def release_all(self) -> None:
        """Key-up for every held key (last pressed first), button-up for every button."""
        with self._lock:
            self._release_all()

    def _release_all(self) -> None:
        inputs = [
            key_input(scan, up=True)
            for scan in reversed(self._held_keys.values())
            if scan is not _SAS
        ]
        # Where the pointer is (no MOVE flag); mouseData says which X button.
        inputs += [mouse_input(up, data=data) for _, up, data in self._held_buttons.values()]
        self._held_keys.clear()
        self._held_buttons.clear()
        if inputs:
            self._send(inputs)

    def close(self) -> None:
        """Let go of everything (nothing else to undo on Windows)."""
        self.release_all()

    # -- keys -----------------------------------------------------------------------------

    def _key(self, event: Key) -> list[INPUT]:
        ident = event.code or f"key:{event.key}"
        if not event.pressed:
            scan = self._held_keys.pop(ident, None)
            # A release without its press (before the session, after a release_all) is
            # dropped rather than sent to whatever has the focus now.
            if scan is None or scan is _SAS:
                return []
            return [key_input(scan, up=True)]
        stroke = stroke_for(event.code, event.key)
        if stroke is None:
            log.debug("no key for code=%r key=%r", event.code, event.key)
            return []
        if isinstance(stroke, str):
            return text_inputs(stroke)
        if (
            (stroke.make, stroke.extended) == _DELETE
            and self._holding(_CTRL)
            and self._holding(_ALT)
        ):
            self._held_keys[ident] = _SAS
            self._send_sas()
            return []
        self._held_keys[ident] = stroke
        return [key_input(stroke, up=False)]

    def _holding(self, keys: frozenset[tuple[int, bool]]) -> bool:
        return any((scan.make, scan.extended) in keys for scan in self._held_keys.values())

    def _send_sas(self) -> None:
        try:
            self._api.send_sas()
        except Win32Error as exc:
            # Not LocalSystem, or the SoftwareSASGeneration policy is missing.
            log.warning("Ctrl+Alt+Del could not be sent: %s", exc)

    # -- pointer --------------------------------------------------------------------------

    def _button(self, event: PointerButton, dx: int, dy: int) -> INPUT:
        down, up, data = BUTTONS[event.button]
        if event.pressed:
            self._held_buttons[event.button] = (down, up, data)
            return mouse_input(_ABSOLUTE | down, dx, dy, data)
        if self._held_buttons.pop(event.button, None) is None:
            return mouse_input(_ABSOLUTE, dx, dy)  # a release without its press: move only
        return mouse_input(_ABSOLUTE | up, dx, dy, data)

    # -- Windows --------------------------------------------------------------------------

    def _checked_screen(self) -> Box:
        screen = self._api.virtual_screen()
        monitors = self._api.monitors()
        check_layout(screen, monitors)
        self._monitors = monitors
        return screen

    def _follow_desktop(self) -> None:
        if self._desktop is None:
            return
        if threading.get_ident() != self._thread:
            self._thread = threading.get_ident()
            self._attached = 0  # this thread has never been attached
        self._desktop.poll()
        # By generation, not by the poll's answer: the capture thread shares the follower
        # and may have been the one to see the change.
        moved = self._attached != 0 and self._desktop.generation != self._attached
        if moved and (self._held_keys or self._held_buttons):
            # Keys held on the old desktop: let go there first, while still attached to it.
            log.info("input desktop is now %s: releasing held keys", self._desktop.kind.value)
            self.release_all()
        self._attached = self._desktop.attach(self._attached)

    def _send(self, inputs: list[INPUT]) -> None:
        if not inputs:
            return
        sent = self._api.send_input(inputs)
        if sent < len(inputs) and self._desktop is not None:
            # The desktop may have switched between our poll and the call: follow, retry once.
            self._desktop.poll(force=True)
            self._attached = self._desktop.attach(0)
            sent += self._api.send_input(inputs[sent:])
        if sent < len(inputs):
            self.dropped += len(inputs) - sent
            # UIPI (a window of higher integrity than ours) or another BlockInput: visible in
            # the log, not fatal: the viewer sees that nothing happened.
            log.warning("SendInput inserted %d of %d events", sent, len(inputs))


def _on(box: Box, x: int, y: int) -> bool:
    return box.left <= x < box.right and box.top <= y < box.bottom


__all__ = ["InjectionError", "WindowsInjector", "check_layout", "normalize"]
