"""platform.backends picks the Windows parts when sys.platform is "win32" (with the thin
module's factories replaced by fakes: Windows is not here), and X11 otherwise, unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host_agent.__main__ import _log_file, main
from host_agent.errors import InjectionError
from host_agent.platform import backends
from host_agent.platform.windows import win32
from host_agent.platform.windows.backend import WindowsCapture
from host_agent.platform.windows.injector import WindowsInjector
from host_agent.platform.windows.privacy import PrivacyScreen, WindowsBanner
from host_agent.platform.windows.win32 import Box
from tests.host_agent.windows.fakes import (
    FakeDesktopApi,
    FakeDuplicationApi,
    FakeInputApi,
    FakeOverlayApi,
    FakeScreen,
)

pytestmark = pytest.mark.unit

PRIMARY = Box(0, 0, 1920, 1080)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDesktopApi]:
    """This process believes it is on Windows; the thin module answers through fakes."""
    desktop = FakeDesktopApi(build=19045)
    screen = FakeScreen([])
    monkeypatch.setattr(backends.sys, "platform", "win32")
    monkeypatch.setattr(win32, "desktop_api", lambda: desktop)
    monkeypatch.setattr(win32, "input_api", lambda: FakeInputApi(PRIMARY, [PRIMARY]))
    monkeypatch.setattr(win32, "duplication_api", lambda: FakeDuplicationApi(screen))
    monkeypatch.setattr(win32, "overlay_api", FakeOverlayApi)
    backends._windows_desktop.cache_clear()
    yield desktop
    backends._windows_desktop.cache_clear()


def test_windows_picks_sendinput_and_duplication(windows: FakeDesktopApi) -> None:
    """On Windows the injector is SendInput's and the capture Desktop Duplication's, sharing
    one input-desktop follower, made after asking for Per-Monitor-V2 DPI awareness once."""
    injector = backends.open_injector(None)
    capture = backends.open_capture(None)
    assert isinstance(injector, WindowsInjector)
    assert isinstance(capture, WindowsCapture)
    assert capture._desktop is injector._desktop  # type: ignore[attr-defined]
    assert windows.dpi_requests == 1


def test_windows_banner_and_privacy_screen(windows: FakeDesktopApi) -> None:
    """The banner is the overlay banner; the input lock is the privacy screen naming the
    viewer, refused on a Windows too old to keep it out of capture."""
    assert isinstance(backends.open_banner(None), WindowsBanner)
    lock = backends.open_local_input_lock(None, "山田（テスト診療所）")
    assert isinstance(lock, PrivacyScreen)
    assert "keyboard" in lock.lock()
    lock.close()
    windows.build = 17763
    old = backends.open_local_input_lock(None, "山田")
    assert old is not None
    with pytest.raises(InjectionError, match="19041"):
        old.lock()


def test_linux_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elsewhere: the track's default capture (X11), and the same plain errors as before."""
    monkeypatch.setattr(backends.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert backends.open_capture(":0") is None
    with pytest.raises(InjectionError, match="no X display"):
        backends.open_injector(None)
    assert backends.open_banner(None) is None
    assert backends.open_local_input_lock(None, "x") is None
    with pytest.raises(Exception, match="Windows service only"):
        backends.watch_stop_request("Global\\x", lambda: None)


def test_service_command_off_windows(capsys: pytest.CaptureFixture[str]) -> None:
    """``mamori-agent service`` on Linux says it is for Windows, exit status 2."""
    assert main(["service", "status"]) == 2
    assert "Windows only" in capsys.readouterr().err


def test_log_file_option_is_found_before_parsing() -> None:
    """--log-file is honoured in both spellings (the worker's logging starts first)."""
    assert _log_file(["--log-file", "C:/x/agent.log", "--fps", "5"]) == Path("C:/x/agent.log")
    assert _log_file(["--log-file=a.log"]) == Path("a.log")
    assert _log_file(["--fps", "5"]) is None
