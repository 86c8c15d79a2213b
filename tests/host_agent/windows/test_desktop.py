"""The input-desktop follower and the console-session tracker
(host_agent.platform.windows.desktop), as pure state machines."""

from __future__ import annotations

import pytest

from host_agent.platform.windows import win32
from host_agent.platform.windows.desktop import (
    EXIT_CONFIG,
    HEALTHY_RUN_S,
    RESTART_BACKOFF_S,
    DesktopKind,
    InputDesktop,
    LaunchWorker,
    SessionTracker,
    StopWorker,
    classify,
)
from tests.host_agent.windows.fakes import FakeDesktopApi

pytestmark = pytest.mark.unit

CONNECT, DISCONNECT = win32.WTS_CONSOLE_CONNECT, win32.WTS_CONSOLE_DISCONNECT
LOGON, LOGOFF = win32.WTS_SESSION_LOGON, win32.WTS_SESSION_LOGOFF
LOCK, UNLOCK = win32.WTS_SESSION_LOCK, win32.WTS_SESSION_UNLOCK


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Default", DesktopKind.DEFAULT),
        ("Winlogon", DesktopKind.SECURE),
        ("winlogon", DesktopKind.SECURE),
        ("Screen-saver", DesktopKind.SCREENSAVER),
        ("Disconnect", DesktopKind.UNKNOWN),
        (None, DesktopKind.UNKNOWN),
    ],
)
def test_desktop_names(name: str | None, kind: DesktopKind) -> None:
    """The input desktop's name tells the user's desktop from the secure one."""
    assert classify(name) is kind


def test_uac_prompt_and_back_are_two_changes() -> None:
    """Default -> Winlogon (UAC, lock) -> Default: each change counted once; staying put is
    no change; a desktop that cannot be opened (not LocalSystem) is a blind change."""
    follower = InputDesktop(FakeDesktopApi())
    first = follower.observe("Default")
    assert first is not None
    assert first.generation == 1
    assert follower.observe("Default") is None
    secure = follower.observe("Winlogon")
    assert secure is not None
    assert (secure.previous, secure.current, secure.generation) == (
        DesktopKind.DEFAULT, DesktopKind.SECURE, 2,
    )  # fmt: skip
    assert not secure.blind
    blind = follower.observe(None)
    assert blind is not None
    assert blind.blind
    back = follower.observe("Default")
    assert back is not None
    assert back.current is DesktopKind.DEFAULT


def test_polling_is_rate_limited_unless_forced() -> None:
    """Windows is asked at most every poll_s; a forced poll asks at once."""
    api = FakeDesktopApi("Default", "Winlogon", "Default")
    clock = Clock()
    follower = InputDesktop(api, clock=clock, poll_s=0.1)
    assert follower.poll() is not None  # Default
    clock.now += 0.05
    assert follower.poll() is None  # not asked
    assert follower.poll(force=True) is not None  # Winlogon
    clock.now += 0.2
    change = follower.poll()
    assert change is not None
    assert change.current is DesktopKind.DEFAULT


def test_each_thread_attaches_once_per_change() -> None:
    """A thread attaches on its first call and after each change, not in between; a failed
    attach keeps its old generation, so the next call tries again."""
    api = FakeDesktopApi()
    follower = InputDesktop(api)
    follower.observe("Default")
    attached = follower.attach(0)
    assert (attached, api.attaches) == (1, 1)
    assert follower.attach(attached) == 1
    assert api.attaches == 1
    follower.observe("Winlogon")
    api.attach_ok = False
    assert follower.attach(attached) == 1
    api.attach_ok = True
    assert follower.attach(attached) == 2
    assert api.attaches == 3


def test_service_start_launches_in_the_console_session() -> None:
    """The worker starts in the session attached to the console; session 0 and "no
    console" (a switch under way) get none."""
    tracker = SessionTracker(Clock())
    assert tracker.start(1) == [LaunchWorker(1)]
    assert SessionTracker(Clock()).start(win32.NO_CONSOLE_SESSION) == []
    assert SessionTracker(Clock()).start(0) == []


def test_lock_and_unlock_keep_the_worker() -> None:
    """Locking the PC changes the input desktop, not the session: nothing to do here."""
    tracker = SessionTracker(Clock())
    tracker.start(1)
    assert tracker.session_change(LOCK, 1) == []
    assert tracker.session_change(UNLOCK, 1) == []
    assert tracker.worker == 1


def test_fast_user_switching_moves_the_worker() -> None:
    """User B signs in while A stays signed in: the console leaves session 1 for 2, the
    worker follows; switching back moves it back."""
    tracker = SessionTracker(Clock())
    tracker.start(1)
    assert tracker.session_change(DISCONNECT, 1) == [StopWorker(1, "console moved")]
    assert tracker.session_change(CONNECT, 2) == [LaunchWorker(2)]
    assert tracker.session_change(LOGON, 2) == []
    assert tracker.worker_exited(1, 0) == []  # the one we stopped
    assert tracker.session_change(DISCONNECT, 2) == [StopWorker(2, "console moved")]
    assert tracker.session_change(CONNECT, 1) == [LaunchWorker(1)]


def test_logoff_and_next_logon() -> None:
    """A logoff ends its session: the worker goes, and is not restarted there even while
    Windows still names that session; the logon screen's new session gets it."""
    tracker = SessionTracker(Clock())
    tracker.start(1)
    assert tracker.session_change(LOGOFF, 1) == [StopWorker(1, "console moved")]
    assert tracker.console_is(1) == []
    assert tracker.session_change(CONNECT, 3) == [LaunchWorker(3)]
    assert tracker.session_change(LOGON, 3) == []
    assert tracker.worker == 3


def test_remote_desktop_takes_the_console_away() -> None:
    """Someone connects over RDP: their session is never the worker's; the console shows
    the logon screen in a new session, and the worker goes there."""
    tracker = SessionTracker(Clock())
    tracker.start(1)
    assert tracker.session_change(win32.WTS_REMOTE_CONNECT, 1) == [StopWorker(1, "console moved")]
    assert tracker.session_change(DISCONNECT, 1) == []
    assert tracker.console_is(5) == [LaunchWorker(5)]


def test_missed_notifications_are_reconciled() -> None:
    """If the console moved without a notification, the periodic question finds it."""
    tracker = SessionTracker(Clock())
    tracker.start(1)
    assert tracker.console_is(1) == []
    assert tracker.console_is(2) == [StopWorker(1, "console moved"), LaunchWorker(2)]


def test_crashes_are_restarted_with_backoff() -> None:
    """A worker that dies is restarted after 1 s, then 2 s, 5 s...; one that ran a while
    before dying starts the backoff over; a configuration error waits the longest."""
    clock = Clock()
    tracker = SessionTracker(clock)
    tracker.start(1)
    for delay in RESTART_BACKOFF_S[:3]:
        assert tracker.worker_exited(1, 3) == []
        clock.now += delay - 0.01
        assert tracker.tick() == []
        clock.now += 0.01
        assert tracker.tick() == [LaunchWorker(1)]
    clock.now += HEALTHY_RUN_S
    tracker.worker_exited(1, 3)
    assert tracker.restart_at == clock.now + RESTART_BACKOFF_S[0]
    clock.now += RESTART_BACKOFF_S[0]
    assert tracker.tick() == [LaunchWorker(1)]
    tracker.worker_exited(1, EXIT_CONFIG)
    assert tracker.restart_at == clock.now + RESTART_BACKOFF_S[-1]


def test_a_move_is_not_a_failure() -> None:
    """Moving the worker to a new session starts it at once even during a backoff."""
    clock = Clock()
    tracker = SessionTracker(clock)
    tracker.start(1)
    tracker.worker_exited(1, 3)
    assert tracker.session_change(CONNECT, 2) == []  # still in the backoff...
    clock.now += RESTART_BACKOFF_S[0]
    assert tracker.tick() == [LaunchWorker(2)]


def test_service_stop_ends_the_worker_for_good() -> None:
    """Stopping the service stops the worker, and nothing restarts it."""
    tracker = SessionTracker(Clock())
    tracker.start(1)
    assert tracker.stop() == [StopWorker(1, "service stopping")]
    assert tracker.worker_exited(1, 0) == []
    assert tracker.console_is(1) == []
    assert tracker.tick() == []
