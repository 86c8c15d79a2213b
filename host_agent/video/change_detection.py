"""What changed on the screen, in 16-pixel tiles, and the picture kept up to date with it.

XDamage (``damage.py``) says *where* the X server drew; drawing is not changing
(toolkits redraw identical pixels all the time), so the pixels in the damaged rectangle are
compared with the last ones captured, tile by tile. Only tiles that really changed are
copied, only the runs of 16-row bands holding them are converted to YUV, and a capture that
changed nothing sends nothing. Tiles are 16 px because that is the H.264 macroblock: a tile
that did not change costs the encoder a skipped macroblock.

``ScreenPicture`` holds the last captured BGRA pixels and their I420 conversion in buffers
that live as long as the picture, so the encoder reads planes at fixed addresses.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from host_agent.video.x264 import Planes

TILE: Final = 16
MAX_REFORMATTERS: Final = 8

BGRA = npt.NDArray[np.uint8]
TileMask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rect:
    """A rectangle in screen pixels (left, top, width, height)."""

    x: int
    y: int
    w: int
    h: int

    def union(self, other: Rect) -> Rect:
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.w, other.x + other.w)
        y1 = max(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, x1 - x0, y1 - y0)


def tile_aligned(rect: Rect, width: int, height: int) -> Rect | None:
    """``rect`` grown to whole tiles and clipped to the screen; None if nothing is left."""
    x0 = max(0, rect.x) // TILE * TILE
    y0 = max(0, rect.y) // TILE * TILE
    x1 = min(width, rect.x + rect.w)
    y1 = min(height, rect.y + rect.h)
    if x1 <= x0 or y1 <= y0:
        return None
    x1 = min(width, -(-x1 // TILE) * TILE)
    y1 = min(height, -(-y1 // TILE) * TILE)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def changed_tiles(old: BGRA, new: BGRA) -> TileMask:
    """Per 16x16 tile of two same-shape BGRA arrays: did any pixel change?

    Shapes need not be multiples of 16: partial tiles at the right and bottom count too.
    """
    if old.shape != new.shape:
        raise ValueError(f"shapes differ: {old.shape} vs {new.shape}")
    h, w = old.shape[:2]
    # One 32-bit comparison per pixel (a reduction over the channel axis is ~10x slower).
    diff = old.view(np.uint32)[..., 0] != new.view(np.uint32)[..., 0]
    rows, cols = -(-h // TILE), -(-w // TILE)
    if h % TILE or w % TILE:
        padded = np.zeros((rows * TILE, cols * TILE), dtype=np.bool_)
        padded[:h, :w] = diff
        diff = padded
    mask: TileMask = diff.reshape(rows, TILE, cols, TILE).any(axis=(1, 3))
    return mask


class ScreenPicture:
    """The last captured screen: BGRA, its I420 conversion, and which tiles changed last."""

    def __init__(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError("width and height must be even (4:2:0)")
        self.width = width
        self.height = height
        self.tile_rows = -(-height // TILE)
        self.tile_cols = -(-width // TILE)
        # Rows padded to whole bands: a band conversion never reads past the buffer.
        padded_h = self.tile_rows * TILE
        self._bgra: npt.NDArray[np.uint8] = np.zeros((padded_h, width, 4), dtype=np.uint8)
        # A second whole-screen buffer, made on first use (``spare_for``): a grab of the
        # whole screen written there is taken by swapping the two, not copied.
        self._spare: npt.NDArray[np.uint8] | None = None
        self._y = np.zeros((padded_h, width), dtype=np.uint8)
        self._u = np.full((padded_h // 2, width // 2), 128, dtype=np.uint8)
        self._v = np.full((padded_h // 2, width // 2), 128, dtype=np.uint8)
        # One reformatter per run height, reused: swscale keeps its context (a new one per
        # frame costs ~1 ms at 1280x16 and ~15 ms at 1080p: DESIGN.md). A screen changes in
        # few shapes (a line, a text area, everything), so few are ever made.
        self._reformatters: OrderedDict[int, VideoReformatter] = OrderedDict()
        self.bands_converted = 0
        # The buffers hold no picture yet: the first capture counts everything as changed.
        self._empty = True

    @property
    def planes(self) -> Planes:
        """The I420 planes' addresses, valid for this picture's lifetime."""
        return Planes(
            y=self._y.ctypes.data,
            u=self._u.ctypes.data,
            v=self._v.ctypes.data,
            y_stride=self.width,
            uv_stride=self.width // 2,
        )

    @property
    def bgra(self) -> BGRA:
        """The last captured pixels (height x width x 4); read-only by convention."""
        return self._bgra[: self.height]

    def spare_for(self, rect: Rect) -> BGRA | None:
        """For a grab of the whole screen: a (height, width, 4) buffer the grab may fill and
        return, which ``update`` then takes by swapping buffers instead of copying it (the
        watermark is blended into a copy of the grab anyway: ``marking.py``; a 720p copy is
        ~0.3 ms). Its contents are stale; it must not be kept past the grab. None for a
        smaller rectangle (the rest of the picture is only in the current buffer)."""
        if (rect.x, rect.y, rect.w, rect.h) != (0, 0, self.width, self.height):
            return None
        if self._spare is None:
            self._spare = np.zeros_like(self._bgra)
        return self._spare[: self.height]

    def update(self, grab: Callable[[Rect], BGRA], region: Rect | None = None) -> TileMask:
        """Capture ``region`` (whole screen if None), apply what changed, return the tiles.

        Args:
            grab: returns the BGRA pixels of a rectangle of the screen.
            region: where the screen may have changed (XDamage's hint).

        Returns:
            A (tile_rows, tile_cols) mask of the tiles whose pixels changed.
        """
        full = Rect(0, 0, self.width, self.height)
        rect = tile_aligned(region, self.width, self.height) if region and not self._empty else full
        mask = np.zeros((self.tile_rows, self.tile_cols), dtype=np.bool_)
        if rect is None:
            return mask
        new = grab(rect)
        old = self._bgra[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
        if self._empty:
            local = np.ones_like(mask)
            self._empty = False
        else:
            local = changed_tiles(old, new)
        if not local.any():
            return mask
        spare = self._spare
        if new.base is spare and spare is not None and new.shape == self.bgra.shape:
            # The grab filled the spare buffer (``spare_for``) with the whole screen.
            self._bgra, self._spare = spare, self._bgra
        else:
            old[...] = new
        ty, tx = rect.y // TILE, rect.x // TILE
        mask[ty : ty + local.shape[0], tx : tx + local.shape[1]] = local
        bands = mask.any(axis=1)
        # Runs of consecutive changed bands: [start, end) in band units.
        edges = np.flatnonzero(np.diff(np.concatenate(([0], bands.view(np.int8), [0]))))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            self._convert_rows(int(start) * TILE, int(end) * TILE)
        return mask

    def _reformatter(self, rows: int) -> VideoReformatter:
        reformatter = self._reformatters.pop(rows, None) or VideoReformatter()
        self._reformatters[rows] = reformatter
        while len(self._reformatters) > MAX_REFORMATTERS:
            self._reformatters.popitem(last=False)
        return reformatter

    def _convert_rows(self, top: int, bottom: int) -> None:
        # swscale's chroma filter reads the rows next to each pair: converting a run alone
        # would give its edge rows other chroma than a whole-picture conversion. So a band
        # of context above and below is converted too, and only the run's rows are kept.
        # The padding rows below the picture are not context: the picture ends there.
        bottom = min(bottom, self.height)
        start = max(0, top - TILE)
        end = min(self.height, bottom + TILE)
        rows = end - start
        # A view, not a copy: full-width rows of a C-contiguous array are contiguous.
        frame = av.VideoFrame.from_numpy_buffer(self._bgra[start:end], format="bgra")
        yuv = self._reformatter(rows).reformat(frame, format="yuv420p")
        for plane, target, skip, plane_rows, cols in (
            (yuv.planes[0], self._y[top:bottom], top - start, rows, self.width),
            (yuv.planes[1], self._u[top // 2 : bottom // 2], (top - start) // 2, rows // 2,
             self.width // 2),
            (yuv.planes[2], self._v[top // 2 : bottom // 2], (top - start) // 2, rows // 2,
             self.width // 2),
        ):  # fmt: skip
            source = np.frombuffer(memoryview(plane), dtype=np.uint8)
            source = source.reshape(plane_rows, plane.line_size)
            target[...] = source[skip : skip + target.shape[0], :cols]
        self.bands_converted += -(-(bottom - top) // TILE)

    def video_frame(self) -> av.VideoFrame:
        """A copy of the picture as a yuv420p frame (for aiortc's own VP8 encoder)."""
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, source in zip(frame.planes, (self._y, self._u, self._v), strict=True):
            rows = plane.height
            view = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
            view[:rows, : source.shape[1]] = source[:rows]
        return frame
