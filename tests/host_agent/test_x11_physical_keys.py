"""Keys whose character the viewer did not know (its own IME composing: ``Process``; a dead
key; ``Unidentified``) are pressed at their position on the host, so that the host's layout
decides what they type (host_agent/platform/x11/keymap.py), on a US and on a jp106 host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from Xlib import display as xdisplay

from devkit.display import SampleApp, XvfbDisplay, set_keyboard_layout
from host_agent.input.events import Key
from host_agent.platform.x11.injector import X11Injector
from host_agent.platform.x11.keymap import physical_keycode, uses_evdev_keycodes

pytestmark = pytest.mark.display

# The character keys and what a US keyboard types on them (IntlBackslash aside).
US_CHARACTERS = {
    **{f"Key{c}": c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{f"Digit{n}": str(n) for n in range(10)},
    "Minus": "-",
    "Equal": "=",
    "BracketLeft": "[",
    "BracketRight": "]",
    "Backslash": "\\",
    "Semicolon": ";",
    "Quote": "'",
    "Backquote": "`",
    "Comma": ",",
    "Period": ".",
    "Slash": "/",
    "Space": " ",
}

# (code, key, shift) -> what a US host and a jp106 host type for it.
PHYSICAL = [
    ("BracketLeft", "Process", False, "[", "@"),
    ("Quote", "Process", False, "'", ":"),
    ("Digit2", "Process", True, "@", '"'),
    ("Equal", "Dead", False, "=", "^"),
    ("IntlRo", "Unidentified", True, "|", "_"),  # no ろ key on US: its US meaning, a backslash
    ("KeyA", "Process", False, "a", "a"),
]


@pytest.fixture(params=["us", "jp"])
def host_layout(
    request: pytest.FixtureRequest, xvfb: XvfbDisplay, sample_app: SampleApp
) -> Iterator[str]:
    """The host's keymap for one test; the module's Xvfb gets its US keymap back after."""
    layout: str = request.param
    set_keyboard_layout(xvfb, layout)
    yield layout
    set_keyboard_layout(xvfb, "us")


@pytest.fixture
def injector(xvfb: XvfbDisplay, host_layout: str) -> Iterator[X11Injector]:
    with X11Injector(xvfb.name) as inj:
        yield inj


def press(inj: X11Injector, code: str, key: str, shift: bool) -> None:
    if shift:
        inj.inject(Key("ShiftLeft", "Shift", True))
    inj.inject(Key(code, key, True))
    inj.inject(Key(code, key, False))
    if shift:
        inj.inject(Key("ShiftLeft", "Shift", False))


def test_the_hosts_layout_interprets_unknown_characters(
    injector: X11Injector, sample_app: SampleApp, host_layout: str
) -> None:
    for code, key, shift, _us, _jp in PHYSICAL:
        press(injector, code, key, shift)
    expected = "".join(jp if host_layout == "jp" else us for *_, us, jp in PHYSICAL)
    # A character the viewer did know is still typed as the viewer saw it.
    press(injector, "Digit2", '"', True)
    expected += '"'
    sample_app.wait_for(lambda s: s["notes"] == expected, timeout=10)


def test_backquote_is_hankaku_zenkaku_on_a_jis_host(
    injector: X11Injector, sample_app: SampleApp, host_layout: str
) -> None:
    """The key left of 1 is 半角/全角 on a JIS keyboard: with the viewer's IME composing
    (``Process``), a jp106 host gets Zenkaku_Hankaku for it and a US host a backquote."""
    press(injector, "Backquote", "Process", False)
    if host_layout == "jp":
        sample_app.wait_for(lambda s: s["keys"][-1:] == ["Zenkaku_Hankaku"], timeout=10)
        assert sample_app.state()["notes"] == ""
    else:
        sample_app.wait_for(lambda s: s["notes"] == "`", timeout=10)


def test_keys_with_the_same_character_stay_apart(
    injector: X11Injector, sample_app: SampleApp, host_layout: str
) -> None:
    """JIS ¥ and ろ both type a backslash (Windows JIS); on a jp106 host each is pressed as
    its own key, so the host's IME (kana input: ー and ろ) can tell them apart. A US host has
    neither key: its own backslash key and Shift+Minus type them."""
    press(injector, "IntlYen", "\\", False)
    press(injector, "IntlRo", "\\", False)
    press(injector, "IntlRo", "_", True)
    # Shift (50, 62) aside: jp106 ¥ = 132, ろ = 97; US backslash = 51, minus = 20.
    expected = [132, 97, 97] if host_layout == "jp" else [51, 51, 20]
    state = sample_app.wait_for(lambda s: s["notes"] == "\\\\_", timeout=10)
    assert [kc for kc in state["keycodes"] if kc not in (50, 62)] == expected


def test_positions_match_the_us_keymap(xvfb: XvfbDisplay) -> None:
    """Every character key's position holds its US character on Xvfb's US keymap, so the
    evdev table in keymap.py names the right keys (IntlBackslash is ``<`` on pc105 and the
    JIS-only keys have no US key, so they are left out)."""
    conn = xdisplay.Display(xvfb.name)
    try:
        assert uses_evdev_keycodes(conn)
        first = conn.display.info.min_keycode
        rows = conn.get_keyboard_mapping(first, conn.display.info.max_keycode - first + 1)
        wrong = {}
        for code, char in US_CHARACTERS.items():
            keycode = physical_keycode(code)
            assert keycode is not None, code
            if rows[keycode - first][0] != ord(char):
                wrong[code] = rows[keycode - first][0]
        assert wrong == {}
    finally:
        conn.close()
