"""The video track's counters: logged every ``STATS_LOG_S`` by the agent, read by tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from host_agent.video.scheduler import Plan

log = logging.getLogger(__name__)

STATS_LOG_S: Final = 10.0


@dataclass
class TrackStats:
    """Counters the agent logs and tests read."""

    frames: int = 0
    keyframes: int = 0
    keyframe_requests: int = 0
    refinement_frames: int = 0
    keepalives: int = 0
    captures: int = 0
    captures_unchanged: int = 0
    encoder_builds: int = 0
    scrolls: int = 0
    remb_reports: int = 0
    target_bitrate: int = 0
    last_qp: int = 0
    last_encode_ms: float = 0.0

    def count_frame(self, plan: Plan, qp: int, refined: bool, changed: bool) -> None:
        """A frame went out: ``plan`` made it, at ``qp``, refining tiles and/or carrying
        changed ones."""
        self.frames += 1
        self.last_qp = qp
        if plan.keyframe:
            self.keyframes += 1
        if refined:
            self.refinement_frames += 1
        if plan.keepalive and not refined and not changed:
            self.keepalives += 1

    def log(self) -> None:
        log.info(
            "video: %d frames (%d keyframes, %d refinements, %d keep-alives), "
            "%d captures (%d unchanged), qp %d, %.1f ms, target %d kbit/s",
            self.frames, self.keyframes, self.refinement_frames, self.keepalives,
            self.captures, self.captures_unchanged, self.last_qp, self.last_encode_ms,
            self.target_bitrate // 1000,
        )  # fmt: skip
