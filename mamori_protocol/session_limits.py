"""Idle and maximum session time, decided the same way on the agent and on the broker.

MHLW.md row 8 (no long idle sessions; クリアスクリーン when away): after ``idle_s`` without
input the view is blanked and the second factor is asked again; a session never outlives
``max_s`` and is warned ``warn_before_s`` ahead. Sans-I/O: callers pass the time in, so tests
shorten the clock by setting, never by sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

DEFAULT_IDLE_S: Final = 10 * 60  # MHLW.md row 8 (?): a setting; default 10 minutes
DEFAULT_MAX_S: Final = 8 * 3600  # MHLW.md row 8 (?): a setting; default 8 hours
DEFAULT_WARN_BEFORE_S: Final = 5 * 60


class LimitState(Enum):
    ACTIVE = "active"
    ENDING_SOON = "ending_soon"  # within warn_before_s of the maximum
    IDLE = "idle"  # blank the view, ask for the second factor again
    EXPIRED = "expired"  # the maximum is reached: end the session


@dataclass(frozen=True)
class SessionLimits:
    idle_s: float = DEFAULT_IDLE_S
    max_s: float = DEFAULT_MAX_S
    warn_before_s: float = DEFAULT_WARN_BEFORE_S

    def __post_init__(self) -> None:
        if not (self.idle_s > 0 and self.max_s > 0 and 0 <= self.warn_before_s < self.max_s):
            raise ValueError("session limits must be positive and warn before the maximum")


@dataclass(frozen=True)
class LimitStatus:
    state: LimitState
    seconds_left: float  # until the maximum


class SessionTimer:
    """Tracks one session's start and last input against its limits."""

    def __init__(self, limits: SessionLimits, started_at: float) -> None:
        self.limits = limits
        self.started_at = started_at
        self.last_input_at = started_at

    def touch(self, now: float) -> None:
        """Input arrived (the idle clock starts again)."""
        self.last_input_at = max(self.last_input_at, now)

    def status(self, now: float) -> LimitStatus:
        """Where the session stands at ``now``; the maximum outranks idleness."""
        left = self.started_at + self.limits.max_s - now
        if left <= 0:
            return LimitStatus(LimitState.EXPIRED, 0.0)
        if now - self.last_input_at >= self.limits.idle_s:
            return LimitStatus(LimitState.IDLE, left)
        if left <= self.limits.warn_before_s:
            return LimitStatus(LimitState.ENDING_SOON, left)
        return LimitStatus(LimitState.ACTIVE, left)


def activity_every_s(idle_s: float) -> float:
    """How often at most the agent reports input to the broker (``Activity``).

    The broker's idle clock lags the agent's by at most this much: a quarter of the idle
    limit (so a clear-screen can come at most that much early on the broker's side), and
    never more than 5 s (a handful of messages a minute while someone types)."""
    return max(0.1, min(5.0, idle_s / 4))
