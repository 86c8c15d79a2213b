"""The viewer's choice of monitor, on the agent's side of one session.

Backends that can capture another area (``MonitorChoice``) tell the viewer, on the input
channel, the host's monitors and which one it sees; the viewer's choice rebuilds the capture
and encoder (``ScreenTrack.reopen``), one rebuild at a time and only a few a second. The
other backends capture one fixed area and the viewer shows no switcher. What a switch means
for the rest of the session (pointer positions, the cursor) is the session's
(``PeerSession``, told through ``switched``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiortc import RTCDataChannel

from host_agent.input.channel_policy import TokenBucket
from host_agent.video.capture import ScreenGeometry
from host_agent.video.screen_track import ScreenTrack
from host_agent.video.sources import CaptureBackend, MonitorChoice
from mamori_protocol.monitors import MonitorMessageError, monitors_message

log = logging.getLogger(__name__)

# Choosing a monitor rebuilds the capture and encoder: a person clicks a few times at most.
MONITOR_SWITCH_RATE_PER_S: Final = 1.0
MONITOR_SWITCH_BURST: Final = 3.0


class MonitorSwitch:
    """Tells the viewer the monitors and captures the one it chooses.

    ``closed`` says whether the session has ended; ``switched`` is called with the new
    area once it is captured, ``failed`` when it cannot be (the session then ends).
    """

    def __init__(
        self,
        session_id: str,
        capture: CaptureBackend,
        *,
        closed: Callable[[], bool],
        switched: Callable[[ScreenGeometry], None],
        failed: Callable[[], Awaitable[None]],
    ) -> None:
        self._session_id = session_id
        self._capture = capture
        self._closed = closed
        self._switched = switched
        self._failed = failed
        self._switches = TokenBucket(MONITOR_SWITCH_RATE_PER_S, MONITOR_SWITCH_BURST)
        self._switching: asyncio.Task[None] | None = None
        self.channel: RTCDataChannel | None = None  # the session's input channel, once open

    def announce(self) -> None:
        """Tell the viewer the host's monitors and which one it sees (``MonitorChoice``
        backends only: the others capture one fixed area and the viewer shows no switcher)."""
        channel, capture = self.channel, self._capture
        if channel is None or channel.readyState != "open":
            return
        if not isinstance(capture, MonitorChoice) or not capture.monitors:
            return
        selected = capture.selected
        if selected is None:
            selected = next((m.id for m in capture.monitors if m.primary), 0)
        channel.send(monitors_message(capture.monitors, selected))

    def choose(self, choice: int, track: ScreenTrack | None) -> bool:
        """Start capturing monitor ``choice``; False when the choice is refused (no choice
        with this backend, the session over, a rebuild in flight, too many choices, or no
        such monitor)."""
        capture = self._capture
        if not isinstance(capture, MonitorChoice) or track is None or self._closed():
            return False
        if self._switching is not None and not self._switching.done():
            return False  # one rebuild at a time; ask again
        if not self._switches.take():
            return False
        try:
            capture.select(choice)
        except MonitorMessageError as exc:
            log.warning("session %s: monitor choice refused: %s", self._session_id, exc)
            self.announce()  # the viewer's switcher shows again what it sees
            return False
        self._switching = asyncio.ensure_future(self._switch(track))
        return True

    def cancel(self) -> None:
        """The session ends: a switch in flight stops (the track is going away)."""
        switching, self._switching = self._switching, None
        if switching is not None and switching is not asyncio.current_task():
            switching.cancel()

    async def _switch(self, track: ScreenTrack) -> None:
        """Capture the chosen area; pointer positions map onto it from now on."""
        try:
            geometry = await track.reopen()
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._closed():
                return  # the track stopped with the session: nothing failed
            log.exception("session %s: the chosen monitor cannot be captured", self._session_id)
            await self._failed()
            return
        if self._closed():
            return
        self._switched(geometry)
        self.announce()
