"""Where the agent's eyes and hands must be: the input desktop, and the console session.

Two pure state machines; the calls they lead to are ``DesktopApi`` and ``ServiceApi``'s.

**The input desktop** (``InputDesktop``, in the worker). Windows shows one desktop at a time
on the console: ``Default`` (the user's), ``Winlogon`` (the lock screen, Ctrl+Alt+Del, the
UAC prompt on the secure desktop) or ``Screen-saver``. A thread captures and injects only
on the desktop it is attached to, so when the input desktop changes every thread that
touches the screen must call ``SetThreadDesktop`` again before its next call, and keys held
on the old desktop are let go. The capture notices on its own (DXGI answers ACCESS_LOST
and is recreated on the new desktop, see ``duplication.py``). Only a process running as
LocalSystem may open the ``Winlogon`` desktop; elsewhere ``input_desktop_name`` is None
and the viewer sees a frozen picture until the user's desktop returns (``blind``).

**The console session** (``SessionTracker``, in the service). The worker must run in the
session attached to the physical console, which changes with fast user switching (a
second user logs on: a new session takes the console), with logoff (the session ends; the
logon screen comes up in a new one) and with a Remote Desktop connection (the console
session is disconnected). Session-change notifications arrive at the service; they can be
missed or arrive out of order, so the service also reports the active console session
every few seconds (``console_is``) and the tracker reconciles: one worker, in the console
session, restarted with backoff when it dies.

What the pure code proves: which worker runs where after every sequence of notifications
the tests replay, and when threads re-attach and keys are released. What only a real
Windows PC proves: that the notifications arrive as documented, that a SYSTEM worker in the
user's session can open the ``Winlogon`` desktop and capture the UAC prompt, and that
SendInput reaches it (README check-list).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from host_agent.platform.windows.win32 import (
    NO_CONSOLE_SESSION,
    WTS_CONSOLE_CONNECT,
    WTS_CONSOLE_DISCONNECT,
    WTS_REMOTE_CONNECT,
    WTS_SESSION_LOGOFF,
    DesktopApi,
)

# How often the worker asks which desktop has the input (a cheap OpenInputDesktop).
DESKTOP_POLL_S: Final = 0.1
# Restart delays after a worker dies on its own; the last one repeats.
RESTART_BACKOFF_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# A worker that lived this long before dying was not crash-looping: backoff starts over.
HEALTHY_RUN_S: Final = 120.0
# The worker's exit status for "this configuration cannot work" (``__main__``: not
# enrolled, bad state directory): retried at the longest delay only.
EXIT_CONFIG: Final = 2


class DesktopKind(Enum):
    DEFAULT = "Default"
    SECURE = "Winlogon"  # lock screen, Ctrl+Alt+Del, UAC on the secure desktop
    SCREENSAVER = "Screen-saver"
    UNKNOWN = "?"  # cannot be opened from here (not LocalSystem), or a desktop of its own


def classify(name: str | None) -> DesktopKind:
    """The kind of a desktop from its name (``GetUserObjectInformation(UOI_NAME)``)."""
    if name is None:
        return DesktopKind.UNKNOWN
    for kind in (DesktopKind.DEFAULT, DesktopKind.SECURE, DesktopKind.SCREENSAVER):
        if name.lower() == kind.value.lower():
            return kind
    return DesktopKind.UNKNOWN


@dataclass(frozen=True)
class DesktopChange:
    """The input desktop changed; ``generation`` counts the changes."""

    previous: DesktopKind
    current: DesktopKind
    name: str | None
    generation: int

    @property
    def blind(self) -> bool:
        """The new desktop cannot be opened: nothing on it can be seen or typed into."""
        return self.current is DesktopKind.UNKNOWN


class InputDesktop:
    """Follows the input desktop for every thread of the worker.

    ``poll`` (any thread; rate-limited) observes the desktop's name; each thread that
    captures or injects keeps the generation it attached at and calls ``attach`` before
    its next Win32 call. Thread-safe.
    """

    def __init__(
        self,
        api: DesktopApi,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = DESKTOP_POLL_S,
    ) -> None:
        self._api = api
        self._clock = clock
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._polled_at: float | None = None
        self.name: str | None = None
        self.kind = DesktopKind.UNKNOWN
        # 0: never observed; every thread attaches on its first call.
        self.generation = 0

    def poll(self, force: bool = False) -> DesktopChange | None:
        """Ask Windows which desktop has the input, at most every ``poll_s`` unless forced.

        Returns:
            The change, if the desktop is not the one seen last.
        """
        with self._lock:
            now = self._clock()
            if not force and self._polled_at is not None and now - self._polled_at < self._poll_s:
                return None
            self._polled_at = now
        return self.observe(self._api.input_desktop_name())

    def observe(self, name: str | None) -> DesktopChange | None:
        """Record the input desktop's name; the pure step of ``poll``."""
        with self._lock:
            if self.generation and name == self.name:
                return None
            previous = self.kind
            self.name, self.kind = name, classify(name)
            self.generation += 1
            return DesktopChange(previous, self.kind, name, self.generation)

    def attach(self, attached: int) -> int:
        """Attach the calling thread to the input desktop if it changed since ``attached``.

        Args:
            attached: the generation this thread last attached at (0: never).

        Returns:
            The generation the thread is attached at now (unchanged if attaching failed:
            it is tried again at the next call).
        """
        generation = self.generation
        if attached == generation and attached:
            return attached
        if self._api.attach_to_input_desktop():
            return generation
        return attached


@dataclass(frozen=True)
class LaunchWorker:
    """Start the worker in this session (as LocalSystem, on ``winsta0\\default``)."""

    session_id: int


@dataclass(frozen=True)
class StopWorker:
    """Ask the worker in this session to stop (then end it if it does not)."""

    session_id: int
    reason: str


SessionAction = LaunchWorker | StopWorker


class SessionTracker:
    """Which session the worker runs in. Pure: the service feeds it events and a clock,
    and carries out the actions it returns, in order."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.console: int | None = None
        self.worker: int | None = None
        self.running = False  # the service is up (between start and stop)
        self._started_at = 0.0
        self._failures = 0
        self._launch_after = 0.0
        # Sessions that logged off or belong to Remote Desktop: never the worker's.
        self._excluded: set[int] = set()
        self._stopping: set[int] = set()

    # -- events ----------------------------------------------------------------------------

    def start(self, console: int) -> list[SessionAction]:
        """The service started; ``console`` is WTSGetActiveConsoleSessionId."""
        self.running = True
        return self.console_is(console)

    def stop(self) -> list[SessionAction]:
        """The service is stopping: the worker goes and stays gone."""
        self.running = False
        return self._reconcile()

    def console_is(self, console: int) -> list[SessionAction]:
        """The active console session, asked now (``NO_CONSOLE_SESSION``: a switch)."""
        self.console = None if console in (NO_CONSOLE_SESSION, 0) else console
        return self._reconcile()

    def session_change(self, event: int, session_id: int) -> list[SessionAction]:
        """A ``SERVICE_CONTROL_SESSIONCHANGE`` notification (``WTS_*`` event type)."""
        if event == WTS_CONSOLE_CONNECT:
            self._excluded.discard(session_id)
            self.console = session_id
        elif event == WTS_CONSOLE_DISCONNECT and self.console == session_id:
            self.console = None
        elif event == WTS_SESSION_LOGOFF:
            # Its desktop is going away; the logon screen comes up in a new session.
            self._excluded.add(session_id)
        elif event == WTS_REMOTE_CONNECT:
            self._excluded.add(session_id)
        # Lock, unlock, logon: the worker stays; it follows the input desktop itself.
        return self._reconcile()

    def worker_exited(self, session_id: int, status: int) -> list[SessionAction]:
        """The worker process in ``session_id`` ended with ``status``."""
        if session_id in self._stopping:
            # The one we asked to stop; its successor (if any) is already tracked.
            self._stopping.discard(session_id)
        elif session_id == self.worker:
            self.worker = None
            now = self._clock()
            if now - self._started_at >= HEALTHY_RUN_S:
                self._failures = 0
            delay = RESTART_BACKOFF_S[min(self._failures, len(RESTART_BACKOFF_S) - 1)]
            if status == EXIT_CONFIG:
                delay = RESTART_BACKOFF_S[-1]
            self._failures += 1
            self._launch_after = now + delay
        return self._reconcile()

    def tick(self) -> list[SessionAction]:
        """Time passed: a delayed restart may be due."""
        return self._reconcile()

    # -- the rule --------------------------------------------------------------------------

    @property
    def wanted(self) -> int | None:
        """The session the worker should be in now."""
        if not self.running or self.console is None or self.console in self._excluded:
            return None
        return self.console

    @property
    def restart_at(self) -> float:
        """When a worker may be launched again (clock time)."""
        return self._launch_after

    def _reconcile(self) -> list[SessionAction]:
        actions: list[SessionAction] = []
        wanted = self.wanted
        if self.worker is not None and self.worker != wanted:
            reason = "service stopping" if not self.running else "console moved"
            actions.append(StopWorker(self.worker, reason))
            self._stopping.add(self.worker)
            self.worker = None
            # A move is not a failure: the new session's worker starts at once.
            self._failures = 0
            self._launch_after = 0.0
        if wanted is not None and self.worker is None and self._clock() >= self._launch_after:
            actions.append(LaunchWorker(wanted))
            self.worker = wanted
            self._started_at = self._clock()
        return actions
