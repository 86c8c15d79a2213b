"""How many bytes a frame may take: a token bucket at the target bitrate, and each frame's QP.

Why not x264's own rate control: its VBV, once enabled, caps every frame row by row, which
also caps the refinement frames that must sharpen settled text (measured: refinement stalls
at ~44 dB under a VBV, reaches 46 dB without); and with variable frame timing x264 holds each
frame back until the next one arrives. So every frame is coded at a quantizer chosen here.

- The bucket fills at the target bitrate in real time and holds ``WINDOW_S`` of it: a quiet
  screen banks budget for the burst that follows (a page switch, a refinement).
- A frame showing new content gets ``BASE_QP`` while the bucket is at least half full, and a
  coarser quantizer as it empties; an overspent bucket delays the next frame (``ready_at``)
  rather than pile bytes into the network queue, by at most one window for a keyframe or a
  refinement (``MAX_DEBT_WINDOWS``: a frame larger than that is forgiven the rest) and four
  for new content (``CHANGE_DEBT_WINDOWS``, a second). New content is never refused.
- Keyframes and refinements are predictable (they re-code known content), so their size is
  predicted from bytes per macroblock learned as they go (halving per 6 QP). A keyframe
  that does not fit gets a coarser quantizer; a refinement is never coarsened: it re-codes
  as many settled tiles as the bucket holds (``refine_tiles``), the rest in later frames.
- A large change is fitted too (``LARGE_CHANGE_MBS``): its cost per macroblock is learned
  from the large changes before it, at once when it grows (a photo panning faster than x264's
  search reaches, a page switch: intra-like, tens of times the cost of a motion-coded frame)
  and slowly when it shrinks; it gets the finest quantizer whose predicted size fits the
  bucket and one more window (``FIT_WINDOWS``). And it is never coded more than ``QP_STEP``
  finer than the large frame just before it (``STEP_WITHIN_S``): x264 re-codes every
  macroblock whose reference is coarser than the frame's quantizer, so a pan right after a
  keyframe at QP 42 coded at QP 24 cost 186 kB, 1.5 s of a 1 Mbit/s link. Measured on the
  2 Mbit/s bottleneck (tests/network): such frames, each followed by a second's wait that
  put the next pan out of reach again, kept the stream at 1-2 pictures a second. Any step
  finer re-codes the whole photo: 24 to 20 took 93 kB, 25 to 20 66 kB, one step near 22
  12-32 kB, against 2-6 kB for a frame of the pan at a steady quantizer.

The target bitrate (``BitrateTarget``) follows REMB where REMB carries information. A
browser's delay-based estimate starts at what it received and then only creeps up with it:
for a sender that sends less than the link could carry (a mostly static screen) it says
"about what you sent", not "the link is full". What does say congestion is the estimate
*dropping* (the receiver saw queues grow and backed off): then the target falls to it at
once. Without probing there is no way to learn how much more the link would carry, so after
``RECOVER_AFTER_S`` without a drop the target climbs back towards the maximum by
``RECOVER_PER_S`` a second, and the next drop brings it down again.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Final

WINDOW_S: Final = 0.25
MIN_BITRATE: Final = 150_000
MAX_QP: Final = 42
# QP added when the bucket is empty (linearly from half full).
PRESSURE_QP: Final = 12
LEARN: Final = 0.3
MIN_LEARN_MBS: Final = 8
# A REMB this much below the previous one is the receiver backing off: congestion.
REMB_DROP: Final = 0.05
RECOVER_AFTER_S: Final = 1.0
RECOVER_PER_S: Final = 1.5
# The most the bucket may be overdrawn, in windows: the longest a frame waits for budget.
# Unbounded, one keyframe at a low target (a REMB of 150-300 kbit/s) overdrew it by
# hundreds of kB, and the next frame, keep-alives and the IDR the receiver asked for
# included, was held back for 20-30 s: the stalls at 5 % loss (bench/lossy_stream.py).
MAX_DEBT_WINDOWS: Final = 1.0
# New content may overdraw it further, by up to a second of the target: forgiving a change
# frame after one window let the stream run at four such frames a second whatever the
# target (a panning photo at QP 42 on a loaded 2-core machine: 2-4 Mbit/s sent against an
# estimate of 0.2-1.5 Mbit/s through a 2 Mbit/s link, its queue full and 15 % of packets
# dropped; the trace in tests/host_agent/traces/). A second still bounds the wait: at
# least one new picture a second, and a keep-alive never waits longer than that.
CHANGE_DEBT_WINDOWS: Final = 4.0
# A change this large (macroblocks; a twelfth of a 720p picture) is fitted to the budget and
# teaches the cost of the next; smaller ones cost little whatever they show.
LARGE_CHANGE_MBS: Final = 300
# What a large change may take beyond the bucket's level, in windows of the target.
FIT_WINDOWS: Final = 1.0
# A large change is at most this much finer than the large frame before it, if that came
# within STEP_WITHIN_S (after that, refinement or new content has replaced it).
QP_STEP: Final = 1
STEP_WITHIN_S: Final = 0.5


class FrameKind(Enum):
    KEY = "key"  # every macroblock intra coded
    CHANGE = "change"  # new content
    REFINE = "refine"  # settled macroblocks re-coded at a fine quantizer


# Bytes per macroblock at the kind's floor QP (20 for keys, 11 for refinements), measured
# at 1280x720 on the bench's dense text: an IDR 97; a refinement of text first shown at
# QP 20, 44 to 61.
INITIAL_BYTES_PER_MB: Final = {FrameKind.KEY: 97.0, FrameKind.REFINE: 61.0}


def scaled(per_mb: float, mbs: int, floor_qp: int, qp: int) -> float:
    """Predicted bytes at ``qp`` for ``mbs`` macroblocks costing ``per_mb`` at ``floor_qp``."""
    return float(per_mb * mbs * 2.0 ** ((floor_qp - qp) / 6))


class BitrateTarget:
    """The bitrate the byte budget follows: the maximum until the receiver reports congestion."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(MIN_BITRATE, maximum)
        self.value = self.maximum
        self._last_remb: int | None = None
        self._last_drop = -math.inf
        self._updated = -math.inf
        # Set once a send-side estimate drives the target: it probes by itself, so neither
        # REMB nor the recovery below applies any more.
        self.estimated = False

    def on_estimate(self, bitrate: int) -> int:
        """The sender's own congestion estimate (transport-cc): the target, as is."""
        self.estimated = True
        self.value = min(self.maximum, max(MIN_BITRATE, bitrate))
        return self.value

    def on_remb(self, remb: int, now: float) -> int:
        """Take a receiver estimate into account; returns the new target."""
        if self.estimated:
            return self.value
        self._recover(now)
        previous, self._last_remb = self._last_remb, remb
        if previous is not None and remb < previous * (1 - REMB_DROP):
            self.value = max(MIN_BITRATE, min(self.value, remb))
            self._last_drop = now
        elif remb > self.value:
            self.value = min(self.maximum, remb)
        return self.value

    def current(self, now: float) -> int:
        self._recover(now)
        return self.value

    def _recover(self, now: float) -> None:
        if self.estimated:
            return
        elapsed = now - max(self._updated, self._last_drop + RECOVER_AFTER_S)
        self._updated = now
        if elapsed > 0 and self.value < self.maximum:
            self.value = min(self.maximum, int(self.value * RECOVER_PER_S**elapsed))


class RateController:
    """The byte budget and the quantizer of each frame (not thread-safe: one owner)."""

    def __init__(self, bitrate: int, now: float) -> None:
        self.bitrate = max(MIN_BITRATE, bitrate)
        self.level = self.capacity  # a new session may spend a full window at once
        self._updated = now
        self.per_mb = dict(INITIAL_BYTES_PER_MB)
        # How far the last frame may have overdrawn the bucket, in windows (by its kind).
        self._debt_windows = MAX_DEBT_WINDOWS
        # A large change's bytes per macroblock at the floor QP (0: none seen yet), and the
        # quantizer and time of the last keyframe or large change.
        self.change_per_mb = 0.0
        self._large_qp = 0
        self._large_at = -math.inf

    @property
    def capacity(self) -> float:
        return self.bitrate / 8 * WINDOW_S

    def set_bitrate(self, bitrate: int, now: float) -> None:
        self._refill(now)
        self.bitrate = max(MIN_BITRATE, bitrate)
        self.level = min(max(self.level, -self._debt_windows * self.capacity), self.capacity)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self.level = min(self.capacity, self.level + elapsed * self.bitrate / 8)

    def ready_at(self, now: float) -> float:
        """When the bucket is no longer overspent (``now`` if it is not)."""
        self._refill(now)
        if self.level >= 0:
            return now
        return now + -self.level * 8 / self.bitrate

    def change_qp(self, now: float, floor_qp: int, mbs: int = 0) -> int:
        """The quantizer for new content in ``mbs`` macroblocks: the floor while the bucket
        is half full or more, unless a large change is predicted not to fit (or the large
        frame before it was much coarser)."""
        self._refill(now)
        fill = self.level / self.capacity
        qp = floor_qp
        if fill < 0.5:
            qp = floor_qp + math.ceil(PRESSURE_QP * (0.5 - max(fill, 0.0)) / 0.5)
        if mbs >= LARGE_CHANGE_MBS:
            need = self.change_per_mb * mbs
            budget = max(self.level, 0.0) + FIT_WINDOWS * self.capacity
            if need > budget:
                qp = max(qp, math.ceil(floor_qp + 6 * math.log2(need / budget)))
            if now - self._large_at <= STEP_WITHIN_S:
                qp = max(qp, self._large_qp - QP_STEP)
        return min(MAX_QP, qp)

    def key_qp(self, now: float, mbs: int, floor_qp: int) -> int:
        """The best quantizer whose predicted keyframe size fits the bucket (never refused)."""
        self._refill(now)
        need = self.per_mb[FrameKind.KEY] * max(1, mbs)
        budget = max(self.level, 0.0)
        if need <= budget:
            return floor_qp
        if budget <= 0:
            return MAX_QP
        return min(MAX_QP, math.ceil(floor_qp + 6 * math.log2(need / budget)))

    def refine_tiles(self, now: float) -> int:
        """How many tiles a refinement may re-code now without overdrawing the bucket (at
        least one when the bucket is full: a refinement never waits for more than that)."""
        self._refill(now)
        tiles = max(0, int(self.level / self.per_mb[FrameKind.REFINE]))
        return max(1, tiles) if self.level >= self.capacity else tiles

    def max_refine_tiles(self) -> int:
        """The most tiles one refinement can re-code: what a full bucket holds (at least
        one). A learned cost per tile can outgrow the bucket's share for a batch."""
        return max(1, int(self.capacity / self.per_mb[FrameKind.REFINE]))

    def refine_ready_at(self, now: float, tiles: int) -> float:
        """When the bucket will hold a refinement of ``tiles`` tiles (capped at its size)."""
        self._refill(now)
        need = min(self.per_mb[FrameKind.REFINE] * max(1, tiles), self.capacity)
        if self.level >= need:
            return now
        return now + (need - self.level) * 8 / self.bitrate

    def spent(
        self, now: float, kind: FrameKind, mbs: int, floor_qp: int, qp: int, size: int
    ) -> None:
        """Account for a frame of ``size`` bytes; learn from keys, refinements and large
        changes."""
        self._refill(now)
        self._debt_windows = CHANGE_DEBT_WINDOWS if kind is FrameKind.CHANGE else MAX_DEBT_WINDOWS
        self.level = max(self.level - size, -self._debt_windows * self.capacity)
        large = kind is FrameKind.CHANGE and mbs >= LARGE_CHANGE_MBS
        if kind is FrameKind.KEY or large:
            self._large_qp, self._large_at = qp, now
        if size <= 0 or mbs < MIN_LEARN_MBS:
            return
        observed = size / (mbs * 2.0 ** ((floor_qp - qp) / 6))
        if kind in self.per_mb:
            self.per_mb[kind] += LEARN * (observed - self.per_mb[kind])
        elif large:
            # Up at once (the next such frame must fit), down slowly (a cheap frame of a pan
            # in reach does not make the next one, out of reach, cheap).
            if observed > self.change_per_mb:
                self.change_per_mb = observed
            else:
                self.change_per_mb += LEARN * (observed - self.change_per_mb)
