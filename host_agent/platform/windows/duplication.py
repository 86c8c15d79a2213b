"""DXGI Desktop Duplication as the capture pipeline's source: what changed, and its pixels.

On X11 the pipeline learns *where* the screen changed from XDamage and grabs that rectangle
(``video/damage.py``, ``video/capture.py``). Desktop Duplication hands over both at once:
each acquired frame says which rectangles were drawn (dirty rects) and which were moved
(move rects: a window dragged, a list scrolled), and holds the new desktop image on the
GPU. ``DuplicationCapture`` keeps a copy of the monitor in memory (the *shadow*) and brings
it up to date from each frame:

1. move rects are applied inside the shadow (copy from source to destination), so scrolled
   content is not read from the GPU again; a move whose source lies outside the shadow, or
   any move before the shadow holds a whole picture, is read instead;
2. dirty rects are read from the GPU (only those rectangles travel: CopySubresourceRegion
   into a staging texture, then Map);
3. the union of both is the damage the pipeline asks for (``take``), like XDamage's bounding
   box, and ``grab`` serves pixels from the shadow; the pipeline's tile comparison then
   keeps only what really changed.

Per Microsoft's documentation the moves are applied before the dirty rects, each frame on
the previous picture. The first frame after (re)creating a duplication is read whole.

Answers that are not failures: ``DXGI_ERROR_WAIT_TIMEOUT`` means nothing changed.
``DXGI_ERROR_ACCESS_LOST`` (the input desktop switched to UAC or the lock screen, the mode
changed, a full-screen program took the output) and device loss mean: drop the duplication
and make a new one, on the new input desktop, and read the next picture whole. When
duplication is not available at all (an RDP session, an old or missing display driver, too
many duplicating programs, a rotated monitor, a desktop this process may not open) the
source falls back to GDI (``BitBlt``, through mss): it grabs the whole monitor every
``GDI_INTERVAL_S`` and compares, and tries duplication again every ``RETRY_S``.

If the captured monitor disappears (unplugged) the picture freezes while it is looked for;
if it comes back where it was, capture resumes with a whole picture; if it stays away
longer than ``GONE_AFTER_S``, or comes back at another position or size, the source is
``GONE``: ``grab`` raises ``OutputGone`` and the session ends, so that the viewer's next
session learns the new layout (a session's picture size cannot change in the middle).

The pointer's position and shape come with the frames (``FrameInfo``,
``GetFramePointerShape``) and are reported for the cursor channel; in GDI mode there is no
pointer information.

Pure: the thin module's ``DuplicationApi`` is a parameter. Thread use: ``poll`` runs on
one capture thread (DXGI objects stay on it); ``take`` and ``grab`` may be called from
other threads (the event loop, the encode thread) and only touch the shadow and the damage,
under a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from host_agent.errors import CaptureError
from host_agent.platform.windows.desktop import InputDesktop
from host_agent.platform.windows.errors import OutputGone, Win32Error
from host_agent.platform.windows.win32 import (
    DXGI_ERROR_ACCESS_LOST,
    DXGI_ERROR_DEVICE_REMOVED,
    DXGI_ERROR_DEVICE_RESET,
    DXGI_ERROR_INVALID_CALL,
    DXGI_ERROR_NOT_CURRENTLY_AVAILABLE,
    DXGI_ERROR_NOT_FOUND,
    DXGI_ERROR_SESSION_DISCONNECTED,
    DXGI_ERROR_UNSUPPORTED,
    DXGI_ERROR_WAIT_TIMEOUT,
    E_ACCESSDENIED,
    E_INVALIDARG,
    ROTATION_IDENTITY,
    ROTATION_UNSPECIFIED,
    Box,
    Duplication,
    DuplicationApi,
    FrameInfo,
    OutputInfo,
    Pixels,
    PointerShape,
)
from host_agent.video.capture import ScreenGeometry
from host_agent.video.change_detection import BGRA, Rect

log = logging.getLogger(__name__)

GDI_INTERVAL_S: Final = 0.1
RETRY_S: Final = 5.0
GONE_AFTER_S: Final = 10.0

# The duplication is stale: make a new one (ACCESS_LOST: desktop switch, mode change).
RECREATE: Final = frozenset(
    {
        DXGI_ERROR_ACCESS_LOST,
        DXGI_ERROR_INVALID_CALL,
        DXGI_ERROR_DEVICE_REMOVED,
        DXGI_ERROR_DEVICE_RESET,
        DXGI_ERROR_SESSION_DISCONNECTED,
        E_ACCESSDENIED,
    }
)
# DuplicateOutput cannot work here and now: GDI, and duplication again later.
UNAVAILABLE: Final = frozenset(
    {
        DXGI_ERROR_UNSUPPORTED,
        DXGI_ERROR_NOT_CURRENTLY_AVAILABLE,
        DXGI_ERROR_SESSION_DISCONNECTED,
        DXGI_ERROR_DEVICE_REMOVED,
        E_ACCESSDENIED,
        E_INVALIDARG,
    }
)

GdiGrab = Callable[[Box], Pixels]


class Mode(Enum):
    DUPLICATION = "duplication"
    GDI = "gdi"
    WAITING = "waiting"  # the monitor is missing, or nothing can capture it just now
    GONE = "gone"  # for good: the session must end


@dataclass(frozen=True)
class Update:
    """What one ``poll`` found (damage in captured-area coordinates)."""

    mode: Mode
    damage: tuple[Rect, ...] = ()
    moved: tuple[Rect, ...] = ()  # destinations filled from the shadow, not read
    pointer_position: tuple[int, int, bool] | None = None
    pointer_shape: PointerShape | None = None
    recreated: bool = False


@dataclass
class CaptureStats:
    frames: int = 0
    timeouts: int = 0
    recreations: int = 0
    rects_read: int = 0
    moves_applied: int = 0
    gdi_grabs: int = 0


class PolledCapture(Protocol):
    """What the capture thread polls and the pipeline reads: one monitor
    (``DuplicationCapture``) or several composed (``composition.ComposedDuplication``)."""

    @property
    def geometry(self) -> ScreenGeometry: ...

    def poll(self, timeout_ms: int) -> Update: ...

    def take(self) -> Rect | None: ...

    def grab(self, rect: Rect | None = None) -> BGRA: ...

    def close(self) -> None: ...


class DuplicationCapture:
    """One monitor through Desktop Duplication (GDI as the fallback). See the module."""

    def __init__(
        self,
        api: DuplicationApi,
        output: OutputInfo,
        *,
        gdi: GdiGrab | None = None,
        desktop: InputDesktop | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self.output = output
        self._gdi = gdi
        self._desktop = desktop
        self._attached = 0
        self._clock = clock
        box = output.desktop
        # H.264 4:2:0 needs even dimensions: the last odd row/column is not sent.
        self.geometry = ScreenGeometry(box.left, box.top, box.width & ~1, box.height & ~1)
        self._full = Box(0, 0, box.width, box.height)
        self._shadow = np.zeros((box.height, box.width, 4), np.uint8)
        self._lock = threading.Lock()
        self._damage: Rect | None = None
        self._duplication: Duplication | None = None
        self._whole = True  # the shadow does not hold a whole picture yet
        self._retry_at = 0.0
        self._missing_since: float | None = None
        self._gone: OutputGone | None = None
        self.mode = Mode.WAITING
        self.stats = CaptureStats()

    # -- the capture thread ----------------------------------------------------------------

    def poll(self, timeout_ms: int) -> Update:
        """Wait up to ``timeout_ms`` for the next frame and apply it to the shadow.

        Raises:
            CaptureError: an answer from DXGI that no retry can fix.
        """
        if self._gone is not None:
            return Update(Mode.GONE)
        recreated = self._follow_desktop()
        update = self._poll_once(timeout_ms)
        return dataclasses.replace(update, recreated=True) if recreated else update

    def _poll_once(self, timeout_ms: int) -> Update:
        if self._duplication is None and self._clock() >= self._retry_at:
            self._open()
        if self._duplication is None:
            return self._poll_gdi() if self.mode is Mode.GDI else Update(self.mode)
        duplication = self._duplication
        try:
            info = duplication.acquire(timeout_ms)
        except Win32Error as exc:
            return self._failed(exc, acquired=False)
        try:
            update = self._apply(duplication, info)
        except Win32Error as exc:
            return self._failed(exc, acquired=True)
        try:
            duplication.release_frame()
        except Win32Error as exc:
            # The frame was read; the duplication is stale (ACCESS_LOST): a new one next time.
            self._failed(exc, acquired=True)
        self.stats.frames += 1
        return update

    def close(self) -> None:
        self._drop()

    # -- other threads ---------------------------------------------------------------------

    def take(self) -> Rect | None:
        """The bounding box of the damage since the last ``take`` (None: nothing)."""
        with self._lock:
            damage, self._damage = self._damage, None
        return damage

    def grab(self, rect: Rect | None = None) -> BGRA:
        """A copy of the shadow's pixels in ``rect`` (captured-area coordinates).

        Raises:
            OutputGone: the monitor is gone for good (see the module docstring).
        """
        if self._gone is not None:
            raise self._gone
        if rect is None:
            rect = Rect(0, 0, self.geometry.width, self.geometry.height)
        with self._lock:
            return self._shadow[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w].copy()

    # -- frames ----------------------------------------------------------------------------

    def _apply(self, duplication: Duplication, info: FrameInfo) -> Update:
        position = None
        if info.last_mouse_update_time:
            position = (info.pointer_x, info.pointer_y, info.pointer_visible)
        shape = duplication.pointer_shape() if info.pointer_shape_buffer_size else None
        if not (info.last_present_time or info.accumulated_frames):
            return Update(Mode.DUPLICATION, pointer_position=position, pointer_shape=shape)
        moves, reads = [], []
        if self._whole or not info.total_metadata_buffer_size:
            reads = [self._full]  # no picture to move within yet, or no rectangles given
        else:
            for move in duplication.move_rects():
                destination = _clip(move.destination, self._full)
                dx = move.source_x - move.destination.left
                dy = move.source_y - move.destination.top
                source = Box(
                    destination.left + dx,
                    destination.top + dy,
                    destination.right + dx,
                    destination.bottom + dy,
                )
                if destination.width <= 0 or destination.height <= 0:
                    continue
                if _clip(source, self._full) == source:
                    moves.append((source, destination))
                else:
                    reads.append(destination)  # its source is not in the shadow
            for dirty in duplication.dirty_rects():
                box = _clip(dirty, self._full)
                if box.width > 0 and box.height > 0:
                    reads.append(box)
        pixels = duplication.read(reads) if reads else []
        with self._lock:
            for source, destination in moves:
                # A copy of the source first: source and destination often overlap (scrolling).
                self._shadow[_slices(destination)] = self._shadow[_slices(source)].copy()
            for box, block in zip(reads, pixels, strict=True):
                self._shadow[_slices(box)] = block
            boxes = [destination for _, destination in moves] + reads
            damage = [r for r in map(self._rect, boxes) if r is not None]
            self._add_damage(damage)
        self._whole = False
        self.stats.moves_applied += len(moves)
        self.stats.rects_read += len(reads)
        moved = tuple(r for r in (self._rect(d) for _, d in moves) if r is not None)
        return Update(
            Mode.DUPLICATION,
            tuple(damage),
            moved,
            pointer_position=position,
            pointer_shape=shape,
        )

    def _failed(self, exc: Win32Error, *, acquired: bool) -> Update:
        if exc.code == DXGI_ERROR_WAIT_TIMEOUT and not acquired:
            self.stats.timeouts += 1
            return Update(Mode.DUPLICATION)
        if exc.code in RECREATE:
            log.info("desktop duplication lost (%s): recreating it", exc)
            self._drop()
            if self._desktop is not None:
                self._desktop.poll(force=True)  # a switch is the usual cause: follow it first
            self.stats.recreations += 1
            return Update(Mode.WAITING, recreated=True)
        self._drop()
        raise CaptureError(f"desktop duplication failed: {exc}") from exc

    # -- (re)creation ----------------------------------------------------------------------

    def _follow_desktop(self) -> bool:
        if self._desktop is None:
            return False
        self._desktop.poll()
        # By generation: the injector shares the follower and may have seen the change.
        moved = self._attached != 0 and self._desktop.generation != self._attached
        recreate = moved and self._duplication is not None
        if recreate:
            # A duplication belongs to the desktop it was made on: a new one on the new one.
            log.info("input desktop is now %s: new duplication", self._desktop.kind.value)
            self._drop()
            self.stats.recreations += 1
        self._attached = self._desktop.attach(self._attached)
        return recreate

    def _open(self) -> None:
        now = self._clock()
        found = next(
            (o for o in self._api.outputs() if o.device_name == self.output.device_name), None
        )
        if found is None or not found.attached:
            self._missing(now)
            return
        self._missing_since = None
        if found.desktop != self.output.desktop:
            self._end(f"monitor {found.device_name} is now at {tuple(found.desktop)}")
            return
        if found.rotation not in (ROTATION_UNSPECIFIED, ROTATION_IDENTITY):
            # The duplicated image of a rotated monitor is not rotated; GDI's is.
            self._fallback(now, "the monitor is rotated")
            return
        try:
            self._duplication = self._api.duplicate(found)
        except Win32Error as exc:
            if exc.code == DXGI_ERROR_NOT_FOUND:
                self._missing(now)
            elif exc.code in UNAVAILABLE:
                self._fallback(now, str(exc))
            else:
                raise CaptureError(f"desktop duplication cannot start: {exc}") from exc
            return
        described = self._duplication.description
        if (described.width, described.height) != (found.desktop.width, found.desktop.height):
            # A mode change under way: the image is not the output's rectangle.
            self._drop()
            self._end(f"monitor {found.device_name} is now {described.width}x{described.height}")
            return
        if self.mode is not Mode.DUPLICATION:
            log.info("capturing %s through desktop duplication", found.device_name)
        self.mode = Mode.DUPLICATION
        self._whole = True

    def _missing(self, now: float) -> None:
        if self._missing_since is None:
            self._missing_since = now
            log.warning("monitor %s is missing: the picture is frozen", self.output.device_name)
        if now - self._missing_since >= GONE_AFTER_S:
            self._end(f"monitor {self.output.device_name} was unplugged")
            return
        self.mode = Mode.WAITING
        self._retry_at = now + GDI_INTERVAL_S

    def _fallback(self, now: float, reason: str) -> None:
        self._retry_at = now + RETRY_S
        if self._gdi is None:
            self.mode = Mode.WAITING
            return
        if self.mode is not Mode.GDI:
            log.warning("no desktop duplication (%s): capturing through GDI", reason)
            self._whole = True
        self.mode = Mode.GDI

    def _end(self, reason: str) -> None:
        self._gone = OutputGone(f"{reason}: the session must start again")
        self.mode = Mode.GONE
        self._drop()
        with self._lock:
            self._add_damage([Rect(0, 0, self.geometry.width, self.geometry.height)])

    def _drop(self) -> None:
        duplication, self._duplication = self._duplication, None
        if duplication is not None:
            try:
                duplication.close()
            except Win32Error:
                log.debug("closing a lost duplication failed", exc_info=True)
        self._whole = True

    # -- GDI -------------------------------------------------------------------------------

    def _poll_gdi(self) -> Update:
        if self._gdi is None:  # GDI mode is only entered with a grabber
            return Update(Mode.WAITING)
        pixels = self._gdi(self.output.desktop)
        self.stats.gdi_grabs += 1
        with self._lock:
            if self._whole:
                changed: Box | None = self._full
            else:
                diff = (pixels.view(np.uint32) != self._shadow.view(np.uint32))[..., 0]
                changed = _bounding_box(diff)
            if changed is not None:
                self._shadow[_slices(changed)] = pixels[_slices(changed)]
            rect = None if changed is None else self._rect(changed)
            if rect is not None:
                self._add_damage([rect])
        self._whole = False
        return Update(Mode.GDI, () if rect is None else (rect,))

    # -- helpers ---------------------------------------------------------------------------

    def _rect(self, box: Box) -> Rect | None:
        """``box`` (output-local) clipped to the captured area, as a Rect."""
        g = self.geometry
        clipped = _clip(box, Box(0, 0, g.width, g.height))
        if clipped.width <= 0 or clipped.height <= 0:
            return None
        return Rect(clipped.left, clipped.top, clipped.width, clipped.height)

    def _add_damage(self, rects: list[Rect]) -> None:
        for rect in rects:
            self._damage = rect if self._damage is None else self._damage.union(rect)


def _clip(box: Box, bounds: Box) -> Box:
    return Box(
        max(box.left, bounds.left),
        max(box.top, bounds.top),
        min(box.right, bounds.right),
        min(box.bottom, bounds.bottom),
    )


def _slices(box: Box) -> tuple[slice, slice]:
    return slice(box.top, box.bottom), slice(box.left, box.right)


def _bounding_box(mask: npt.NDArray[np.bool_]) -> Box | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
