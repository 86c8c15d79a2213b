"""The privacy screen and the host banner on Windows.

While a session that asks for it runs (the clinic's setting: ``block_local_input`` in the
session's policy, on by default outside opening hours), the clinic PC's monitors show a
notice ("遠隔操作中: 名前") instead of patient data, and its own keyboard and mouse do
nothing. The remote viewer still sees and uses the desktop.

**Which approach, and why.** Each physical monitor gets a topmost, click-through,
never-activated window showing the notice, marked ``SetWindowDisplayAffinity(
WDA_EXCLUDEFROMCAPTURE)``: Windows leaves such a window out of screen capture (Desktop
Duplication and GDI alike) while the monitor shows it, so the capture sees the EHR under it
and the room sees the notice. Injected clicks pass through it to the EHR (``WS_EX_
TRANSPARENT``). This needs Windows 10 2004 (build 19041). It is what RustDesk settled on for
its privacy mode on those builds (pull request #6470, "topmost window exclude from
capture"), after trying two others that do not suit a clinic: switching the monitors off
with BlockInput (its first privacy mode, #373: the monitor wakes at the first input, the
injected included, so the screen comes back at the first keystroke) and a Magnification-API
window captured through the magnifier (capture through a deprecated API instead of Desktop
Duplication). Its third, a virtual display, needs a display driver installed on the clinic
PC. MeshCentral offers a privacy bar (a notice that is captured like everything else) and a
lock of the local keyboard and mouse; its request for a blank screen (#416) is still open.

**No fallback is pretended.** Below build 19041 there is no way to show the room something
other than what the capture sees without a driver, so a session that asks for the privacy
screen is refused there (fail closed: ``lock`` raises and the session does not start); the
install guide says to update Windows or switch the setting off. The same holds if Windows
does not confirm the exclusion on every window.

**Local input** is dropped by low-level keyboard and mouse hooks that let through only the
events this agent injected (``dwExtraInfo`` is ``MAMORI_INPUT_TAG``), not by BlockInput,
which lets only the blocking thread inject and needs high integrity. Ctrl+Alt+Del never
reaches a hook, so the person at the PC can always get to the secure desktop; there (the
lock screen, UAC) neither the notice nor the hooks apply, since Windows shows its own UI
rather than the EHR.

**The banner** (always, as on X11) is a small red window at the top of the primary monitor,
*not* excluded from capture, so the viewer sees it too: nobody is watched unknowingly.

Pure: the thin module's ``OverlayApi`` draws and hooks. What the tests prove: which windows
are asked for with which images and flags, what the hooks let through, that the screen is
refused when the build or the affinity says no. What only a real PC proves: that the
monitor shows the notice while Desktop Duplication does not (README check-list).
"""

from __future__ import annotations

import logging
from typing import Final

import numpy as np
from PIL import Image

from host_agent.errors import InjectionError
from host_agent.platform.notices import render_banner, render_notice
from host_agent.platform.windows.errors import Win32Error
from host_agent.platform.windows.win32 import (
    MAMORI_INPUT_TAG,
    WDA_EXCLUDEFROMCAPTURE,
    Box,
    OverlayApi,
    Pixels,
)

log = logging.getLogger(__name__)

# Windows 10 2004: the first build with WDA_EXCLUDEFROMCAPTURE.
MIN_BUILD: Final = 19041


def supported(build: int) -> bool:
    """Whether this Windows build can keep a window out of capture."""
    return build >= MIN_BUILD


def allow_event(injected: bool, extra_info: int) -> bool:
    """The hooks' rule while the screen is up: only this agent's own injected events pass."""
    return injected and extra_info == MAMORI_INPUT_TAG


def bgra(image: Image.Image) -> Pixels:
    """A Pillow image as opaque BGRA (what UpdateLayeredWindow takes, premultiplied)."""
    rgba = np.asarray(image.convert("RGBA"))
    return np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])


class PrivacyScreen:
    """The notice on every monitor and the local input dropped (an ``InputLock``)."""

    def __init__(self, overlay: OverlayApi, build: int, monitors: list[Box], who: str) -> None:
        self._overlay = overlay
        self._build = build
        self._monitors = monitors
        self._who = who
        self._windows: list[int] = []
        self._filtering = False

    def lock(self) -> list[str]:
        """Cover every monitor and drop local input.

        Returns:
            What was locked, for the log and the audit.

        Raises:
            InjectionError: the privacy screen cannot be guaranteed here (see the module):
                the session must not start.
        """
        if not supported(self._build):
            raise InjectionError(
                f"the privacy screen needs Windows 10 2004 (build {MIN_BUILD}) or later; "
                f"this PC runs build {self._build}"
            )
        try:
            for box in self._monitors:
                image = render_notice(self._who, box.width, box.height)
                self._windows.append(self._overlay.show(box, bgra(image), True))
            unconfirmed = [
                w for w in self._windows if self._overlay.affinity(w) != WDA_EXCLUDEFROMCAPTURE
            ]
            if unconfirmed:
                raise InjectionError("Windows did not confirm the notice is kept out of capture")
            if not self._overlay.filter_input(allow_event):
                raise InjectionError("the local keyboard and mouse cannot be held")
            self._filtering = True
        except (Win32Error, InjectionError) as exc:
            self.close()
            raise InjectionError(f"privacy screen refused: {exc}") from exc
        log.info("privacy screen up on %d monitor(s); local input held", len(self._windows))
        return ["keyboard", "mouse", *(f"monitor {tuple(box)}" for box in self._monitors)]

    def close(self) -> None:
        """Let local input through and take the notice down (also after a failed lock)."""
        if self._filtering:
            self._overlay.filter_input(None)
            self._filtering = False
        windows, self._windows = self._windows, []
        for window in windows:
            try:
                self._overlay.close(window)
            except Win32Error:
                log.warning("a privacy window could not be closed", exc_info=True)


class WindowsBanner:
    """The red banner at the top centre of the primary monitor, seen by the viewer too."""

    def __init__(self, overlay: OverlayApi, primary: Box) -> None:
        self._overlay = overlay
        self._primary = primary
        self._window: int | None = None
        self.text: str | None = None

    def show(self, text: str) -> None:
        self.close()
        image = render_banner(text)
        left = self._primary.left + max(0, (self._primary.width - image.width) // 2)
        box = Box(left, self._primary.top, left + image.width, self._primary.top + image.height)
        try:
            self._window = self._overlay.show(box, bgra(image), False)
        except Win32Error:
            log.warning("the session banner cannot be shown", exc_info=True)
            return
        self.text = text

    def refresh(self) -> None:
        """Nothing to do: the overlay thread keeps its windows on top."""

    def close(self) -> None:
        window, self._window = self._window, None
        self.text = None
        if window is not None:
            try:
                self._overlay.close(window)
            except Win32Error:
                log.debug("the banner window was already gone", exc_info=True)
