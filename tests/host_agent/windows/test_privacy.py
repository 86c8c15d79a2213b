"""The privacy screen and the banner on Windows (host_agent.platform.windows.privacy), through
a fake of the thin module's overlay windows and hooks."""

from __future__ import annotations

import numpy as np
import pytest

from host_agent.errors import InjectionError
from host_agent.platform.notices import BACKGROUND, NOTICE_BACKGROUND
from host_agent.platform.windows import win32
from host_agent.platform.windows.privacy import (
    MIN_BUILD,
    PrivacyScreen,
    WindowsBanner,
    allow_event,
    supported,
)
from host_agent.platform.windows.win32 import Box
from tests.host_agent.windows.fakes import FakeOverlayApi

pytestmark = pytest.mark.unit

MONITORS = [Box(0, 0, 1920, 1080), Box(-1280, 200, 0, 1224)]
WHO = "山田 花子（テスト診療所）"


def test_exclusion_needs_windows_10_2004() -> None:
    """Build 19041 (Windows 10 2004) and later can exclude a window from capture."""
    assert MIN_BUILD == 19041
    assert supported(19041)
    assert supported(22631)  # Windows 11 23H2
    assert not supported(17763)  # Windows 10 1809 / LTSC 2019


def test_every_monitor_gets_an_excluded_notice() -> None:
    """One window per monitor, exactly its size, opaque, excluded from capture; local input
    is filtered from then on; closing undoes both."""
    overlay = FakeOverlayApi()
    screen = PrivacyScreen(overlay, 19045, MONITORS, WHO)
    names = screen.lock()
    assert "keyboard" in names and "mouse" in names  # noqa: PT018
    assert [w.box for w in overlay.open] == MONITORS
    for shown in overlay.open:
        assert shown.exclude_from_capture
        assert shown.bgra.shape == (shown.box.height, shown.box.width, 4)
        assert (shown.bgra[..., 3] == 255).all()
        corner = shown.bgra[0, 0, [2, 1, 0]]
        assert tuple(corner) == NOTICE_BACKGROUND
        assert (shown.bgra[..., :3] == 255).any()  # the text
    assert overlay.allow is allow_event
    screen.close()
    assert overlay.open == []
    assert overlay.allow is None


def test_only_the_agents_own_events_pass_the_hooks() -> None:
    """Physical keys and mice, and other programs' injected events, are dropped."""
    assert allow_event(True, win32.MAMORI_INPUT_TAG)
    assert not allow_event(False, 0)
    assert not allow_event(False, win32.MAMORI_INPUT_TAG)  # a device cannot claim the tag
    assert not allow_event(True, 0)  # another program's SendInput


def test_old_windows_refuses_the_session() -> None:
    """Below 19041 the screen cannot be guaranteed: lock raises, nothing is shown."""
    overlay = FakeOverlayApi()
    with pytest.raises(InjectionError, match="19041"):
        PrivacyScreen(overlay, 17763, MONITORS, WHO).lock()
    assert overlay.windows == {}
    assert overlay.allow is None


def test_unconfirmed_exclusion_refuses_and_cleans_up() -> None:
    """If Windows does not report WDA_EXCLUDEFROMCAPTURE, every window goes and lock raises."""
    overlay = FakeOverlayApi()
    overlay.affinity_ok = False
    with pytest.raises(InjectionError, match="out of capture"):
        PrivacyScreen(overlay, 19045, MONITORS, WHO).lock()
    assert overlay.open == []


def test_refused_hooks_refuse_and_clean_up() -> None:
    """Hooks refused: the notice comes down again and lock raises."""
    overlay = FakeOverlayApi()
    overlay.hooks_ok = False
    with pytest.raises(InjectionError, match="keyboard and mouse"):
        PrivacyScreen(overlay, 19045, MONITORS, WHO).lock()
    assert overlay.open == []


def test_window_failure_refuses() -> None:
    """A window that cannot be created is a refusal too (a Win32Error becomes one)."""
    overlay = FakeOverlayApi()
    overlay.show_error = 5
    with pytest.raises(InjectionError, match="privacy screen refused"):
        PrivacyScreen(overlay, 19045, MONITORS, WHO).lock()


def test_banner_is_captured_at_the_top_centre() -> None:
    """The banner is red, at the top centre of the primary monitor, and NOT excluded from
    capture (the viewer sees it too); showing again replaces it; close removes it."""
    overlay = FakeOverlayApi()
    banner = WindowsBanner(overlay, MONITORS[0])
    banner.show(f"遠隔操作中: {WHO}")
    (shown,) = overlay.open
    assert not shown.exclude_from_capture
    assert shown.box.top == 0
    assert abs(shown.box.left + shown.box.right - 1920) <= 1  # centred
    assert tuple(shown.bgra[0, 0, [2, 1, 0]]) == BACKGROUND
    banner.show("遠隔操作中: 別の人")
    assert len(overlay.open) == 1
    banner.refresh()
    banner.close()
    assert overlay.open == []
    assert np.asarray(shown.bgra).dtype == np.uint8
