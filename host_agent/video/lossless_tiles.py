"""Lossless tiles of settled regions: which blocks to send, and their binary messages.

H.264 at 4:2:0 never shows settled text exactly (the refinement at QP 11 reaches ~48 dB);
a radiograph or colored EHR text must end bit-exact. So once a block of the screen has been
quiet for its settle delay after a change (``settle_delay.py``: 120 ms after a single
change, backing off to seconds for a block that keeps changing), its pixels go to the
viewer as an image on the ``input`` data channel, and the viewer draws it over the video
(``web_client/app/tile_overlay.js``); as soon as a capture finds the block changed again,
an *invalidate* message tells the viewer to drop it (the video shows the change). The
pixels are the *marked* picture, exactly what the encoder was given: a tile never removes
the watermark. The image is PNG or WebP lossless (``encode_tile``).

Blocks are 128x128 px (8x8 macroblock tiles): a block's PNG is at most ~49 KB even when
deflate stores it, so one block always fits one message under ``MAX_MESSAGE`` (the browser
and aiortc accept 64 KiB messages without negotiation); a larger WebP falls back to it.

Wire form (big-endian; ``web_client/core/tiles.js`` parses it: keep the two in step)::

    header   "MT" | version u8 (1) | kind u8 | generation u32 | frame width u16 | height u16
    kind 1   tile:       x u16 | y u16 | w u16 | h u16 | image (w x h), to the end: a PNG
                         (8-bit RGB or gray) or a WebP lossless (VP8L, no alpha)
    kind 2   invalidate: count u16 | count x (x u16 | y u16 | w u16 | h u16)

``generation`` changes when the capture is reopened (another monitor): the viewer drops
everything of another generation or frame size.

Sans I/O: ``BlockTracker`` is fed change masks and asked what is due; the caller (the encode
thread, through ``tile_sender.py``) reads the pixels and sends.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, features

from host_agent.video.change_detection import BGRA, TILE, TileMask
from host_agent.video.settle_delay import FIRST_S, MAX_S, SMALL_TILES, SettleDelays

BLOCK: Final = 128
MAGIC: Final = b"MT"
VERSION: Final = 1
KIND_TILE: Final = 1
KIND_INVALIDATE: Final = 2
MAX_MESSAGE: Final = 64 * 1024
HEADER: Final = struct.Struct(">2sBBIHH")
RECT: Final = struct.Struct(">HHHH")
MAX_IMAGE: Final = MAX_MESSAGE - HEADER.size - RECT.size
COUNT: Final = struct.Struct(">H")
# zlib level 1: ~3x faster than the default 6 on screen content for a few % more bytes.
PNG_LEVEL: Final = 1
# WebP lossless effort at method 1: from quality 26 on, libwebp's method 1 finds far more of
# text's repeats than at 25 (bench/typing_bytes.py's typed blocks of marked text: -35 %
# bytes; a full 720p screen of the bench's text: -16 %, marked -15 %) for ~1.8x its CPU
# (~1.1 ms a text block, ~80 ms a 720p screen of one core); 30 to 100 differ by < 0.1 %.
WEBP_QUALITY: Final = 30
MAX_SIDE: Final = 16_383  # as the viewer's coordinates (web_client/core/cursor.js)
MAX_GENERATION: Final = 0xFFFFFFFF
_HAS_WEBP: Final = bool(features.check("webp"))
# The video's own refinement (QP 11, ``encode_pipeline.EncodePipeline._refinement``) of a block a
# lossless tile will cover waits: while the tile is pending, then this long after it was
# sent (the agent does not know whether the viewer's overlay works: without it, the
# refinement is what sharpens the text), and at most HOLD_MAX_S after the block's change.
REFINE_FALLBACK_S: Final = 2.0
HOLD_MAX_S: Final = 8.0
# A block backed off this far (a clock) gets no tile soon: the video refines it at once.
RESTLESS_S: Final = 1.0
# ``covered_soon``: a change after this much quiet (not a frame of an animation or of a page
# still drawing) whose blocks' tiles are due within ``SOON_S`` (their first delay, or one
# doubling of it).
QUIET_BEFORE_S: Final = 0.5
SOON_S: Final = 0.25

Blocks = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BlockRect:
    """A block in screen pixels (clipped at the right and bottom edges)."""

    row: int
    col: int
    x: int
    y: int
    w: int
    h: int


def _header(kind: int, generation: int, width: int, height: int) -> bytes:
    return HEADER.pack(MAGIC, VERSION, kind, generation & MAX_GENERATION, width, height)


def encode_tile(pixels: BGRA) -> bytes:
    """The (h, w, 4) BGRA pixels as a lossless image the viewer decodes bit-exact: a gray
    PNG when every pixel is gray (a radiograph: one byte a pixel, 37 % fewer bytes than RGB
    PNG for the bench's), else WebP lossless (the bench's text: 45 % fewer bytes than level-1
    PNG, for about twice its CPU: ``WEBP_QUALITY``), else (no WebP in this Pillow, or a
    WebP that would not fit a message) an RGB PNG. No colour chunks: the viewer takes the
    pixels as sRGB, as the video's."""
    data = np.ascontiguousarray(pixels)
    b, g, r = data[..., 0], data[..., 1], data[..., 2]
    if np.array_equal(b, g) and np.array_equal(g, r):
        return _save(Image.fromarray(np.ascontiguousarray(g), mode="L"), "PNG")
    h, w = pixels.shape[:2]
    image = Image.frombuffer("RGB", (w, h), data.tobytes(), "raw", "BGRX", 0, 1)
    if _HAS_WEBP:
        webp = _save(image, "WEBP")
        if len(webp) <= MAX_IMAGE:
            return webp
    return _save(image, "PNG")


def _save(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "WEBP":
        # Method 1 (method 4 was 7x the CPU for 17 % fewer bytes on text), quality
        # WEBP_QUALITY.
        image.save(out, format="WEBP", lossless=True, method=1, quality=WEBP_QUALITY)
    else:
        image.save(out, format="PNG", compress_level=PNG_LEVEL)
    return out.getvalue()


def tile_message(generation: int, width: int, height: int, block: BlockRect, image: bytes) -> bytes:
    """One tile message.

    Raises:
        ValueError: the message would exceed ``MAX_MESSAGE`` (a block is never that large).
    """
    message = (
        _header(KIND_TILE, generation, width, height)
        + RECT.pack(block.x, block.y, block.w, block.h)
        + image
    )
    if len(message) > MAX_MESSAGE:
        raise ValueError(f"tile message of {len(message)} bytes exceeds {MAX_MESSAGE}")
    return message


def invalidate_message(
    generation: int, width: int, height: int, rects: list[tuple[int, int, int, int]]
) -> bytes:
    """One invalidate message for ``rects`` (x, y, w, h), at most what fits MAX_MESSAGE."""
    most = (MAX_MESSAGE - HEADER.size - COUNT.size) // RECT.size
    if len(rects) > most:
        raise ValueError(f"{len(rects)} rectangles exceed {most}")
    body = b"".join(RECT.pack(*r) for r in rects)
    return _header(KIND_INVALIDATE, generation, width, height) + COUNT.pack(len(rects)) + body


class BlockTracker:
    """Per 128-px block: changed since last sent (dirty), when it last changed, whether
    the viewer shows it as a tile now (shown), and how long it must be quiet to be due
    (``settle_delay.SettleDelays``: ``settle_s`` at first, longer for restless blocks)."""

    def __init__(self, width: int, height: int, generation: int, settle_s: float = FIRST_S) -> None:
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise ValueError("frame size out of range")
        self.width = width
        self.height = height
        self.generation = generation & MAX_GENERATION
        self.settle_s = settle_s
        self.rows = -(-height // BLOCK)
        self.cols = -(-width // BLOCK)
        shape = (self.rows, self.cols)
        self.changed_at = np.full(shape, -math.inf)
        # Each block's change before its last one (``covered_soon`` asks how quiet it was).
        self.changed_before = np.full(shape, -math.inf)
        self.dirty: Blocks = np.zeros(shape, dtype=np.bool_)
        # When each dirty block went dirty (its first change since its last tile).
        self.dirty_since = np.full(shape, -math.inf)
        self.shown: Blocks = np.zeros(shape, dtype=np.bool_)
        self.delays = SettleDelays(shape, first_s=settle_s, max_s=max(MAX_S, settle_s))
        # When the last capture looked (``captured``): with drawing reported since and not
        # yet captured, a block is quiet only as long as the captures saw it quiet.
        self.captured_at = -math.inf
        self.tiles_sent = 0
        self.bytes_sent = 0
        self.invalidated = 0

    def blocks_of(self, tiles: TileMask) -> Blocks:
        """The blocks holding any True 16-px tile of ``tiles``."""
        return np.asarray(self._counts(tiles) > 0)

    def _counts(self, tiles: TileMask) -> npt.NDArray[np.int64]:
        """How many True 16-px tiles of ``tiles`` each block holds."""
        per = BLOCK // TILE
        rows, cols = tiles.shape
        padded = np.zeros((self.rows * per, self.cols * per), dtype=np.int64)
        padded[:rows, :cols] = tiles
        return np.asarray(padded.reshape(self.rows, per, self.cols, per).sum(axis=(1, 3)))

    def captured(self, tiles: TileMask, now: float) -> bytes | None:
        """A capture found ``tiles`` (16-px) changed (perhaps none): the message
        invalidating the blocks the viewer shows among them, or None."""
        self.captured_at = now
        return self.changed(tiles, now)

    def changed(self, tiles: TileMask, now: float) -> bytes | None:
        """``tiles`` (16-px) changed: the message invalidating the blocks the viewer shows
        among them, or None."""
        if not tiles.any():
            return None
        counts = self._counts(tiles)
        blocks = counts > 0
        self.delays.changed(blocks, self.changed_at, now, small=counts <= SMALL_TILES)
        self.changed_before[blocks] = self.changed_at[blocks]
        self.changed_at[blocks] = now
        self.dirty_since[blocks & ~self.dirty] = now
        self.dirty |= blocks
        drop = blocks & self.shown
        if not drop.any():
            return None
        self.shown &= ~drop
        self.invalidated += int(drop.sum())
        return invalidate_message(self.generation, self.width, self.height, self._runs(drop))

    def _runs(self, blocks: Blocks) -> list[tuple[int, int, int, int]]:
        """Horizontal runs of blocks as pixel rectangles (one per run, not per block)."""
        rects = []
        for row in range(self.rows):
            line = blocks[row].view(np.int8)
            edges = np.flatnonzero(np.diff(np.concatenate(([0], line, [0]))))
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                x0, x1 = int(a) * BLOCK, min(self.width, int(b) * BLOCK)
                y0, y1 = row * BLOCK, min(self.height, (row + 1) * BLOCK)
                rects.append((x0, y0, x1 - x0, y1 - y0))
        return rects

    def due(self, now: float) -> list[BlockRect]:
        """Dirty blocks quiet for their settle delay, in reading order."""
        ready = self.dirty & (self.changed_at + self.delays.delay <= now)
        return [self.rect(int(r), int(c)) for r, c in zip(*np.nonzero(ready), strict=True)]

    def next_due(self) -> float | None:
        """When the next dirty block will have been quiet for its delay (None: none dirty)."""
        if not self.dirty.any():
            return None
        return float((self.changed_at + self.delays.delay)[self.dirty].min())

    def covered_soon(self, tiles: TileMask) -> Blocks:
        """The blocks of the change just reported (``changed``) of ``tiles`` that lossless
        tiles will cover within a fraction of a second: quiet for ``QUIET_BEFORE_S`` before
        it (a page switch, a form opened: not a frame of an animation, a video or a scroll,
        which get no tile while they move) and due within ``SOON_S`` (not a clock backed
        off to seconds)."""
        blocks = self.blocks_of(tiles)
        quiet = self.changed_at - self.changed_before >= QUIET_BEFORE_S
        return np.asarray(blocks & quiet & (self.delays.delay <= SOON_S))

    def refinement_held(
        self, now: float, overlay_works: bool = False
    ) -> tuple[Blocks, float | None]:
        """The blocks whose video refinement should wait for their lossless tile, and when
        the first of them stops waiting (None: none waits; inf: not while shown).

        A block waits while its tile is pending (unless it is restless: backed off to
        ``RESTLESS_S`` or more, it gets no tile soon), at most ``HOLD_MAX_S`` after it went
        dirty, not after its last change: a block that never stays quiet for its delay (a
        caret blinking every 0.53 s backs its block off to 0.96 s; the bench's 100 Hz
        counter changes faster than any tile goes, so it never backs off) gets no tile, and
        was held for as long as it kept changing. Once its tile went: as long as the viewer
        shows it if the viewer said its overlay works (``mamori_protocol.tile_overlay``:
        the refinement would be wasted), else ``REFINE_FALLBACK_S`` more (the refinement is
        what a viewer without the overlay sees sharpen)."""
        restless = self.delays.delay >= RESTLESS_S
        pending = self.dirty & ~restless
        last = self.changed_at + HOLD_MAX_S
        if overlay_works:
            after_sent = np.full_like(last, math.inf)
        else:
            after_sent = np.minimum(last, self.delays.sent_at + REFINE_FALLBACK_S)
        until = np.where(pending, self.dirty_since + HOLD_MAX_S, after_sent)
        held = (pending | self.shown) & (until > now)
        if not held.any():
            return held, None
        return held, float(until[held].min())

    def tiles_of(self, blocks: Blocks, tile_rows: int, tile_cols: int) -> TileMask:
        """The 16-px tiles of ``blocks`` (the inverse of ``blocks_of``)."""
        per = BLOCK // TILE
        tiles = np.repeat(np.repeat(blocks, per, axis=0), per, axis=1)
        return np.ascontiguousarray(tiles[:tile_rows, :tile_cols])

    def rect(self, row: int, col: int) -> BlockRect:
        x, y = col * BLOCK, row * BLOCK
        return BlockRect(row, col, x, y, min(BLOCK, self.width - x), min(BLOCK, self.height - y))

    def take(self, picture: BGRA, now: float, allowance: int, pending: bool = False) -> list[bytes]:
        """Encode due blocks from ``picture`` until ``allowance`` bytes are spent (at least
        one block if any is due and ``allowance`` > 0); they count as shown from now.

        ``pending``: the screen was drawn on since the last capture, which has not looked
        yet. Blocks are then due by what the captures saw (quiet until ``captured_at``),
        not by the clock: while the byte budget held the next capture back (~0.4 s after
        a large frame on a 2 Mbit/s link), a panning photo's blocks looked settled, and
        25-36 kB tiles of a picture already gone went into the link's queue beside the
        video (tests/network, the bottleneck's narrow phase)."""
        messages: list[bytes] = []
        spent = 0
        for block in self.due(min(now, self.captured_at) if pending else now):
            if spent >= allowance:
                break
            pixels = picture[block.y : block.y + block.h, block.x : block.x + block.w]
            message = tile_message(
                self.generation, self.width, self.height, block, encode_tile(pixels)
            )
            messages.append(message)
            spent += len(message)
            self.dirty[block.row, block.col] = False
            self.shown[block.row, block.col] = True
            self.delays.sent(block.row, block.col, now)
            self.tiles_sent += 1
            self.bytes_sent += len(message)
        return messages
