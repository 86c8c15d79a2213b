"""When to send a frame and what kind: the capture policy, sans I/O (times are passed in).

- **Change-driven.** A capture is planned only after the screen reported drawing (or always,
  when there are no notifications to wait for); a capture whose pixels did not change sends
  nothing.
- **Frame rate.** Up to ``max_fps`` while the person at the viewer is giving input, or when
  the last change was large (scrolling, a page switch, video); up to ``small_fps`` for small
  changes nobody is steering (a clock, a spinner, text arriving by itself). A tiny update is
  mostly packet overhead (~60 bytes of RTP, SRTP, UDP and IP around ~20 bytes of picture), so
  halving its rate halves its bandwidth, while the person's own actions still show at once.
- **Keep-alive.** On a static screen one frame (an empty P frame, ~20 bytes) per
  ``keepalive_s`` (0.5 s): the viewer marks a picture that got no frame for 1 s as frozen
  (``web_client/core/quality.js``), so a still screen must never look like one; a browser
  that sees no frame for 3 s asks for a keyframe.
- **Refinement ("build to lossless").** Tiles that changed are *unrefined*; once some have
  been quiet for ``settle_s``, the next frame codes exactly those tiles again at a fine
  quantizer (the plan carries their mask) and they become refined. It waits while more
  than ``max_active_share`` of the screen is still moving: that area would only change again.
  A tile whose refinement was overtaken by its next change waits twice as long the next
  time (``settle_delay.SettleDelays``, as the lossless tiles' blocks do), up to
  ``REFINE_MAX_S``, and starts over after ``CALM_S`` of quiet: a page switched once a
  second was refined in full every time, 0.3 s before the next page replaced it (the
  bench's ``pages1``: each page sent twice, 0.57-0.64 x noVNC's bitrate); a clock's digits
  stop costing a refinement a tick.
- **Keyframes** when the receiver asks (PLI/FIR) and for the first frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from host_agent.video.settle_delay import SettleDelays

TileMask = npt.NDArray[np.bool_]

# The longest a tile that keeps changing waits for its refinement.
REFINE_MAX_S: Final = 4.0


@dataclass(frozen=True)
class Pacing:
    max_fps: int = 60
    small_fps: int = 20
    keepalive_s: float = 0.5
    settle_s: float = 0.3
    # A change of at most this many 16-px tiles (e.g. a 128x128 area) is small.
    small_tiles: int = 64
    # Input this recent counts as the person steering the screen.
    interactive_s: float = 1.0
    # A large change keeps the full rate this long: scrolling is large changes interleaved
    # with small ones (a caret, a clock), and must not drop to small_fps between them.
    large_hold_s: float = 0.25
    # Refinement waits while more than this share of the tiles is still changing.
    max_active_share: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= self.small_fps <= self.max_fps:
            raise ValueError("need 1 <= small_fps <= max_fps")


@dataclass(frozen=True)
class Plan:
    """The next frame: at ``at`` (monotonic s), capture first or not, refine or not."""

    at: float
    capture: bool
    refine: bool
    keyframe: bool
    # The tiles a refinement re-codes: unrefined and quiet for settle_s (None: no refinement).
    refine_mask: TileMask | None = None
    # A frame goes out even if the capture shows no change and no refinement fits: the
    # last one is keepalive_s old.
    keepalive: bool = False


@dataclass
class FrameScheduler:
    """The policy's state: feed it events and results, ask it for the next plan."""

    tile_rows: int
    tile_cols: int
    pacing: Pacing = field(default_factory=Pacing)

    def __post_init__(self) -> None:
        shape = (self.tile_rows, self.tile_cols)
        self.changed_at = np.full(shape, -math.inf)
        self.unrefined = np.zeros(shape, dtype=np.bool_)
        # Per tile: how long it must be quiet to be refined (settle_s, backed off when its
        # refinement was wasted) and when it was last refined (``sent_at``).
        self.refine_delays = SettleDelays(
            shape, first_s=self.pacing.settle_s, max_s=max(REFINE_MAX_S, self.pacing.settle_s)
        )
        self.change_pending = True  # the first frame shows the whole screen
        self.keyframe_wanted = True
        self.polling = False
        self.last_capture = -math.inf
        self.last_sent = -math.inf
        self.last_input = -math.inf
        self.last_large_change = -math.inf
        self.not_before = -math.inf  # the byte budget is overspent until then
        self.refine_not_before = -math.inf  # a refinement does not fit the budget before
        self.refinements = 0  # refinement frames sent, for stats and tests

    # ---- events -----------------------------------------------------------------------

    def note_change(self) -> None:
        """The screen reported drawing since the last capture."""
        self.change_pending = True

    def note_input(self, now: float) -> None:
        """The viewer sent input: its effects should show at the full frame rate."""
        self.last_input = now

    def request_keyframe(self) -> None:
        self.keyframe_wanted = True

    def defer(self, until: float) -> None:
        """No frame before ``until`` (the byte budget is overspent)."""
        self.not_before = until

    def defer_refinement(self, until: float) -> None:
        """The budget will not hold a worthwhile refinement before ``until``."""
        self.refine_not_before = until

    # ---- decisions --------------------------------------------------------------------

    def interval(self, now: float) -> float:
        """The shortest gap between captures right now."""
        fast = (
            now - self.last_input <= self.pacing.interactive_s
            or now - self.last_large_change <= self.pacing.large_hold_s
        )
        return 1.0 / (self.pacing.max_fps if fast else self.pacing.small_fps)

    def plan(self, now: float) -> Plan:
        """What to do next and when (never earlier than ``now``)."""
        slot = max(
            now, self.last_capture + self.interval(now), self.last_sent + 1e-3, self.not_before
        )
        refine_at = self._refine_at(now)
        if refine_at is not None:
            refine_at = max(refine_at, self.refine_not_before)
        keepalive_at = max(slot, self.last_sent + self.pacing.keepalive_s)
        # Neither polling (a capture every interval, most of them unchanged) nor a refinement
        # the byte budget keeps putting off may hold back the keep-alive: the viewer takes a
        # path that carried nothing for 1.5 s as gone (web_client/core/viewer_session.js).
        if self.change_pending or self.polling or self.keyframe_wanted:
            mask = self._settled(slot) if refine_at is not None and refine_at <= slot else None
            return Plan(slot, capture=self.change_pending or self.polling, refine=mask is not None,
                        keyframe=self.keyframe_wanted, refine_mask=mask,
                        keepalive=slot >= keepalive_at)  # fmt: skip
        if refine_at is not None and max(slot, refine_at) <= keepalive_at:
            at = max(slot, refine_at)
            return Plan(at, capture=False, refine=True, keyframe=False,
                        refine_mask=self._settled(at))  # fmt: skip
        return Plan(keepalive_at, capture=False, refine=False, keyframe=False, keepalive=True)

    def _settled(self, at: float) -> TileMask | None:
        mask = self.unrefined & (self.changed_at <= at - self.refine_delays.delay)
        return mask if mask.any() else None

    def _refine_at(self, now: float) -> float | None:
        """When a refinement is due; None if nothing is unrefined."""
        if not self.unrefined.any():
            return None
        settle = self.pacing.settle_s
        # Not while much of the screen is moving: from when no more than the allowed share
        # will have changed within settle_s (if nothing changes meanwhile).
        allowed = int(self.pacing.max_active_share * self.changed_at.size)
        recent = np.partition(self.changed_at.ravel(), -(allowed + 1))[-(allowed + 1)]
        calm_at = float(recent) + settle
        # And once at least one unrefined tile has been quiet for its delay.
        due = self.changed_at + self.refine_delays.delay
        first_settled = float(due[self.unrefined].min())
        return max(now, calm_at, first_settled)

    # ---- results ----------------------------------------------------------------------

    def captured(self, now: float, changed: TileMask) -> None:
        """A capture happened (whether or not anything changed).

        ``change_pending`` is the caller's to clear when the capture starts: drawing that
        arrives while it runs must plan another one.
        """
        self.last_capture = now
        if changed.any():
            self.refine_delays.changed(changed, self.changed_at, now)
            self.changed_at[changed] = now
            self.unrefined |= changed
            if int(changed.sum()) > self.pacing.small_tiles:
                self.last_large_change = now

    def sent(self, now: float, plan: Plan) -> None:
        """A frame went out for ``plan`` (its refinement, if any, done)."""
        self.last_sent = now
        if plan.keyframe:
            self.keyframe_wanted = False
        if plan.refine and plan.refine_mask is not None:
            # Tiles that changed again in this very frame were shown anew, not refined.
            still = self.changed_at <= plan.at - self.refine_delays.delay
            refined = plan.refine_mask & still
            self.unrefined &= ~refined
            self.refine_delays.sent_at[refined] = now
            self.refinements += 1
