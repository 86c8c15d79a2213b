"""The on-screen banner that tells people at the clinic PC a remote session is live."""

from __future__ import annotations

from collections.abc import Iterator

import mss
import numpy as np
import pytest
from Xlib import display as xdisplay

from devkit.display import XvfbDisplay, start_xvfb
from host_agent.platform.x11.indicator import BACKGROUND, WINDOW_NAME, SessionIndicator

pytestmark = pytest.mark.display


@pytest.fixture
def screen() -> Iterator[XvfbDisplay]:
    with start_xvfb(1280, 720) as display:
        yield display


def top_centre(display: XvfbDisplay) -> np.ndarray:
    with mss.MSS(display=display.name) as grabber:
        shot = grabber.grab({"left": 600, "top": 2, "width": 80, "height": 30})
    return np.frombuffer(shot.rgb, dtype=np.uint8).reshape(30, 80, 3)


def window_names(display: XvfbDisplay) -> list[str]:
    conn = xdisplay.Display(display.name)
    try:
        net_wm_name = conn.intern_atom("_NET_WM_NAME")
        names = []
        for window in conn.screen().root.query_tree().children:
            prop = window.get_full_property(net_wm_name, 0)
            if prop is not None and window.get_attributes().map_state:
                names.append(bytes(prop.value).decode())
        return names
    finally:
        conn.close()


def test_banner_shows_who_is_connected_then_goes(screen: XvfbDisplay) -> None:
    """While shown, a red banner at the top centre names the viewer; hidden, it is gone."""
    indicator = SessionIndicator(screen.name)
    try:
        indicator.show("遠隔操作中: 山田 太郎（さくら内科クリニック）")
        pixels = top_centre(screen)
        red = np.all(np.abs(pixels.astype(int) - BACKGROUND) < 8, axis=-1)
        assert red.mean() > 0.3
        assert (pixels == 255).all(axis=-1).any(), "the banner's text is drawn in white"
        assert f"{WINDOW_NAME}: 遠隔操作中: 山田 太郎（さくら内科クリニック）" in window_names(
            screen
        )
        indicator.hide()
        assert not np.all(np.abs(top_centre(screen).astype(int) - BACKGROUND) < 8, axis=-1).any()
        assert not any(n.startswith(WINDOW_NAME) for n in window_names(screen))
    finally:
        indicator.close()
