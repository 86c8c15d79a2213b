"""The broker's one source of the current time (UTC), so tests can move it forward.

Idle timeouts, lockouts, tickets and TOTP steps all read ``Clock.now``; integration tests
advance a running broker's clock instead of sleeping for fifteen minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC plus an offset that only tests change."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        """Move this clock forward (tests: expire sessions, lockouts and tickets)."""
        self._offset += timedelta(seconds=seconds)
