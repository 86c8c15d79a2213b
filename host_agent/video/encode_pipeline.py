"""The encode pipeline: capture -> change detection -> convert -> rate control -> encode.

``EncodePipeline.produce`` runs on the screen track's one encode thread (``screen_track.py``
plans when and hands it the plan and the damage hint): grab the damaged rectangle (marked by
the watermark as it is taken, scroll found), keep the tiles that really changed, convert
their bands, choose the quantizer within the byte budget and encode with our x264, or hand
aiortc a frame to encode itself (VP8, the fallback). A refinement re-codes settled tiles at
a fine quantizer as the budget allows, and waits while lossless tiles will cover them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

import av
import numpy as np
import numpy.typing as npt

from host_agent.video.change_detection import BGRA, Rect, ScreenPicture, TileMask
from host_agent.video.encoder import BASE_QP, REFINE_QP, VIDEO_TIME_BASE, H264Encoder, VideoPacket
from host_agent.video.lossless_tiles import BlockTracker
from host_agent.video.marking import Marker
from host_agent.video.motion_search import MotionSearchPolicy
from host_agent.video.rate_control import FrameKind, RateController
from host_agent.video.scheduler import Plan
from host_agent.video.scroll import Scroll
from host_agent.video.sources import FrameSource
from host_agent.video.watermark import Watermark, WatermarkIdentity

# A refinement re-codes at least this many tiles at once (or waits for budget).
MIN_REFINE_TILES: Final = 16
# While refinements wait for lossless tiles, the others are looked at this often.
HOLD_POLL_S: Final = 0.5
# A page switch the viewer's lossless tiles will cover within a fraction of a second
# (``BlockTracker.covered_soon``) is coded coarser there: its picture is shown only until the
# tiles arrive, and at BASE_QP a screen of dense text costs more than its lossless tiles
# (1280x720, the bench's text: 455 kB of H.264 against 319 kB of tiles; 212 kB at QP 34,
# 151 kB at 38, still readable). The bytes saved are what the tiles need at once.
COVERED_QP: Final = 36
# Only when such tiles make at least this share of the screen: an edit or a keystroke costs
# few bytes at BASE_QP, and a coarse flash there would show.
COVERED_MIN_SHARE: Final = 0.25
# With drawing not yet captured, tiles due by the clock are looked at again this much later
# (the capture's change, if any, wakes the tile sender sooner).
PENDING_RECHECK_S: Final = 0.05


class Codec(Enum):
    """What the track sends: our x264's packets, or frames aiortc's VP8 encodes (fallback)."""

    H264 = "video/H264"
    VP8 = "video/VP8"


@dataclass
class Produced:
    """One ``produce`` call's result, handed back to the track on the event loop."""

    changed: TileMask
    output: list[VideoPacket] | av.VideoFrame | None = None
    size: int = 0
    qp: int = 0
    refined: TileMask | None = None  # the tiles this frame refined
    ready_at: float = 0.0
    refine_retry_at: float | None = None
    invalidate: bytes | None = None  # drops the viewer's lossless tiles of changed blocks
    coarse: int = 0  # tiles coded at COVERED_QP: lossless tiles will cover them soon


def _held(qp: int) -> int:
    """The quantizer tiles just coded at ``qp`` keep until they change or are refined: one
    coarser than the floor (a narrow link), else none. A keep-alive at the floor would
    otherwise re-code them finer, outside the budget."""
    return qp if qp > BASE_QP else 0


# The watermark's clock, in one place: tests and the bench hold it at one minute.
def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EncodePipeline:
    """Capture -> change detection -> convert -> rate control -> encode, on one thread."""

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        max_fps: int,
        bitrate: int,
        mark: WatermarkIdentity | None = None,
    ) -> None:
        self.capture = open_source()
        geometry = self.capture.geometry
        self.picture = ScreenPicture(geometry.width, geometry.height)
        # Burned in before change detection, so what is compared, converted and sent is
        # always the marked picture, and an unchanged screen costs no blending at all.
        self.watermark = (
            Watermark(mark, geometry.width, geometry.height) if mark is not None else None
        )
        self.marker = Marker(self.watermark, geometry.width, geometry.height)
        self.rate = RateController(bitrate, time.monotonic())
        self._max_fps = max_fps
        self.encoder: H264Encoder | None = None
        self.encoder_builds = 0
        self._search = MotionSearchPolicy()
        self.tiles: BlockTracker | None = None  # lossless tiles (set by the track)
        self.overlay_works = False  # the viewer said it draws the tiles (set by the track)
        # Per tile, the quantizer of a coarse page switch (``COVERED_QP``) still shown by
        # the video under its lossless tiles; 0 elsewhere. Later frames leave them alone.
        self._held_qp = np.zeros((self.picture.tile_rows, self.picture.tile_cols), np.int16)

    def produce(
        self, codec: Codec, plan: Plan, region: Rect | None, pts: int, bitrate: int
    ) -> Produced:
        plan, changed = self._capture(plan, region)
        invalidate = None
        if self.tiles is not None:  # here, on the encode thread, in order with the tiles
            report = self.tiles.captured if plan.capture else self.tiles.changed
            invalidate = report(changed, time.monotonic())
        produced = self._encode(codec, plan, changed, pts, bitrate)
        produced.invalidate = invalidate
        return produced

    def take_tiles(self, allowance: int, pending: bool = False) -> tuple[list[bytes], float | None]:
        """Lossless tiles due now (``allowance`` bytes' worth) and when the next is due;
        ``pending``: drawing since the last capture (``BlockTracker.take``)."""
        if self.tiles is None:
            return [], None
        now = time.monotonic()
        messages = self.tiles.take(self.picture.bgra, now, allowance, pending)
        next_due = self.tiles.next_due()
        if pending and next_due is not None:
            # Due by the clock but not by what was seen: look again after the capture.
            next_due = max(next_due, now + PENDING_RECHECK_S)
        return messages, next_due

    def _capture(self, plan: Plan, region: Rect | None) -> tuple[Plan, TileMask]:
        """Grab (if the plan says so) and apply what changed: the plan and changed tiles."""
        picture = self.picture
        if self.watermark is not None and self.watermark.needs_render(_utc_now()):
            # A new minute: the mark's text changed everywhere, so capture everything.
            plan, region = dataclasses.replace(plan, capture=True), None
        self.marker.scroll = None
        if plan.capture:
            return plan, picture.update(self._grab, region)
        return plan, np.zeros((picture.tile_rows, picture.tile_cols), dtype=np.bool_)

    def _encode(
        self, codec: Codec, plan: Plan, changed: TileMask, pts: int, bitrate: int
    ) -> Produced:
        picture = self.picture
        n_changed = int(changed.sum())
        if plan.capture and not n_changed and not (plan.refine or plan.keyframe or plan.keepalive):
            return Produced(changed)  # drawn, but nothing changed: nothing to send
        if codec is Codec.VP8:
            frame = picture.video_frame()  # aiortc encodes VP8 itself, on its own thread
            frame.pts = pts
            frame.time_base = VIDEO_TIME_BASE
            # aiortc's encoder does its own quality: a "refinement" is just another frame.
            return Produced(changed, frame, refined=plan.refine_mask)
        if self.encoder is None:
            # Created on first use: the codec is only known once the answer is made.
            self.encoder = H264Encoder(picture.width, picture.height, self._max_fps)
            self.encoder_builds += 1
        now = time.monotonic()
        rate = self.rate
        if bitrate != rate.bitrate:
            rate.set_bitrate(bitrate, now)
        if plan.keyframe:
            mbs = int(changed.size)
            qp = rate.key_qp(now, mbs, BASE_QP)
            packets = self.encoder.encode(picture.planes, pts, qp=qp, keyframe=True)
            self._held_qp[:] = _held(qp)
            size = sum(p.size for p in packets)
            rate.spent(now, FrameKind.KEY, mbs, BASE_QP, qp, size)
            return Produced(changed, packets, size=size, qp=qp, ready_at=rate.ready_at(now))
        self.encoder.set_search(self._search.next(self.scroll.size if self.scroll else 0))
        qp = rate.change_qp(now, BASE_QP, n_changed)
        refine, retry = self._refinement(plan, changed, now)
        if refine is None and not n_changed and not plan.keepalive:
            return Produced(changed, refine_retry_at=retry)
        coarse, floor = self._floors(changed)
        packets = self.encoder.encode(
            picture.planes, pts, qp=qp, refine=refine, changed=changed,
            floor_qp=floor if floor.any() else None,
        )  # fmt: skip
        held = self._held_qp
        held[changed] = _held(qp)
        held[coarse] = max(qp, COVERED_QP)
        if refine is not None:
            held[refine] = 0
        size = sum(p.size for p in packets)
        if refine is not None:
            rate.spent(now, FrameKind.REFINE, int(refine.sum()), REFINE_QP, REFINE_QP, size)
        else:
            rate.spent(now, FrameKind.CHANGE, n_changed, BASE_QP, qp, size)
        return Produced(
            changed,
            packets,
            size=size,
            qp=qp,
            refined=refine,
            ready_at=rate.ready_at(now),
            refine_retry_at=retry,
            coarse=int(coarse.sum()),
        )

    def _floors(self, changed: TileMask) -> tuple[TileMask, npt.NDArray[np.int16]]:
        """The changed tiles coded at ``COVERED_QP`` (those of a large change the viewer's
        lossless tiles will cover within a fraction of a second), and every tile's finest
        quantizer this frame (0: none; tiles still showing such a change keep theirs)."""
        floor = self._held_qp.copy()
        floor[changed] = 0
        coarse = np.zeros_like(changed)
        if self.tiles is not None and self.overlay_works and self.scroll is None:
            blocks = self.tiles.covered_soon(changed)
            covered = changed & self.tiles.tiles_of(blocks, *changed.shape)
            if covered.sum() >= COVERED_MIN_SHARE * changed.size:
                coarse = covered
                floor[coarse] = COVERED_QP
        return coarse, floor

    @property
    def scroll(self) -> Scroll | None:
        """The scroll found in this frame's capture."""
        return self.marker.scroll

    @property
    def scrolls(self) -> int:
        return self.marker.scrolls

    def _grab(self, rect: Rect) -> BGRA:
        pixels = self.capture.grab(rect)
        owned = getattr(self.capture, "fresh_grabs", False)
        picture = self.picture
        # Marked into the picture's spare buffer (no copy of it made without a watermark).
        spare = picture.spare_for(rect) if self.watermark is not None else None
        return self.marker.take(rect, pixels, picture.bgra, _utc_now(), owned, spare)

    def _refinement(
        self, plan: Plan, changed: TileMask, now: float
    ) -> tuple[TileMask | None, float | None]:
        """The tiles this frame refines (as many as the budget holds) and, if some must
        wait, when to try again."""
        if plan.refine_mask is None:
            return None, None
        wanted = plan.refine_mask & ~changed
        held_until = None
        if self.tiles is not None:
            # A lossless tile will cover these: re-coding them at QP 11 now would spend the
            # bytes (and the congestion target) the tiles need; later, as a fallback.
            held, held_until = self.tiles.refinement_held(now, self.overlay_works)
            wanted &= ~self.tiles.tiles_of(held, *wanted.shape)
        count = int(wanted.sum())
        if not count:
            if held_until is None:
                return None, None
            # Polled, not slept until the hold ends: another tile may settle meanwhile.
            return None, max(min(held_until, now + HOLD_POLL_S), now + 1 / self._max_fps)
        affordable = self.rate.refine_tiles(now)
        # At most what a full bucket holds: waiting for more would refuse it forever, and
        # the loop would ask again every frame interval sending nothing (seen at ~2 Mbit/s:
        # ~45 refused plans a second, the agent at 7 % of a core on a still screen).
        least = min(count, MIN_REFINE_TILES, self.rate.max_refine_tiles())
        if affordable < least:
            # Not worth a frame yet; never sooner than a frame interval (no busy loop).
            retry = self.rate.refine_ready_at(now, least)
            return None, max(retry, now + 1 / self._max_fps)
        if affordable >= count:
            return wanted, None
        # The first tiles in reading order now, the rest in the next frames.
        part = np.zeros_like(wanted)
        part.flat[np.flatnonzero(wanted.ravel())[:affordable]] = True
        return part, None

    def close(self) -> None:
        if self.encoder is not None:
            self.encoder.close()
        self.capture.close()
