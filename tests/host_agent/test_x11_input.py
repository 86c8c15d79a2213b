"""XTEST injection against a real Xvfb and the real sample EHR
(host_agent.platform.x11.injector)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from Xlib import X
from Xlib import display as xdisplay

from devkit.display import SampleApp, XvfbDisplay
from host_agent.errors import InjectionError
from host_agent.input.events import Key, PointerButton, PointerMove, ReleaseAll, Text, Wheel
from host_agent.input.injection import Injector
from host_agent.platform.backends import open_injector
from host_agent.platform.x11.injector import X11Injector

pytestmark = pytest.mark.display

# What a Japanese (JIS) keyboard sends for the characters the tests type: (code, shift).
# Anything else arrives as the viewer's IME commits it: no code, no shift.
JIS: dict[str, tuple[str, bool]] = {
    **{c: (f"Key{c.upper()}", False) for c in "abcdefghijklmnopqrstuvwxyz"},
    **{c: (f"Key{c}", True) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{str(n): (f"Digit{n}", False) for n in range(10)},
    "!": ("Digit1", True),
    '"': ("Digit2", True),
    "#": ("Digit3", True),
    "'": ("Digit7", True),
    "=": ("Minus", True),
    "@": ("BracketLeft", False),
    ":": ("Quote", False),
    ",": ("Comma", False),
    ".": ("Period", False),
    " ": ("Space", False),
}


@pytest.fixture
def injector(xvfb: XvfbDisplay) -> Iterator[X11Injector]:
    """An X11 injector on the module's Xvfb, closed (and its bindings undone) afterwards."""
    with X11Injector(xvfb.name) as inj:
        yield inj


@pytest.fixture
def xconn(xvfb: XvfbDisplay) -> Iterator[Any]:
    """A separate X connection for looking at the server's state."""
    conn = xdisplay.Display(xvfb.name)
    yield conn
    conn.close()


def tap(inj: Injector, code: str, key: str) -> None:
    inj.inject(Key(code, key, True))
    inj.inject(Key(code, key, False))


def type_jis(inj: Injector, text: str) -> None:
    """Send ``text`` as a JIS-layout browser would, Shift presses included."""
    for char in text:
        code, shift = JIS.get(char, ("", False))
        if shift:
            inj.inject(Key("ShiftLeft", "Shift", True))
        tap(inj, code, char)
        if shift:
            inj.inject(Key("ShiftLeft", "Shift", False))


def click(inj: Injector, x: int, y: int, button: int = 0) -> None:
    inj.inject(PointerMove(x, y))
    inj.inject(PointerButton(button, True, x, y))
    inj.inject(PointerButton(button, False, x, y))


def eventually(probe: Callable[[], object], expected: object, timeout: float = 5.0) -> None:
    """Poll ``probe`` until it returns ``expected``.

    XTEST input goes through the server's input queue, which it drains between requests, so
    another connection may see the state a moment later than the injector sent it.
    """
    deadline = time.monotonic() + timeout
    while (value := probe()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{value!r} != {expected!r}")
        time.sleep(0.01)


def pressed_keycodes(conn: Any) -> list[int]:
    return [
        byte * 8 + bit
        for byte, bits in enumerate(conn.query_keymap())
        for bit in range(8)
        if bits & (1 << bit)
    ]


def pressed_buttons(conn: Any) -> int:
    mask = int(conn.screen().root.query_pointer().mask)
    return mask & int(X.Button1Mask | X.Button2Mask | X.Button3Mask | X.Button4Mask | X.Button5Mask)


def unbound_keycodes(conn: Any) -> list[int]:
    first = conn.display.info.min_keycode
    rows = conn.get_keyboard_mapping(first, conn.display.info.max_keycode - first + 1)
    return [first + i for i, row in enumerate(rows) if not any(row)]


def test_typing_mixes_shift_levels_and_unmapped_characters(
    injector: X11Injector, ehr: SampleApp
) -> None:
    """Text typed on a JIS viewer, kanji included, arrives unchanged on a US-keymap host."""
    click(injector, *ehr.center("notes"))
    type_jis(injector, "Hello, 世界! @#")
    ehr.wait_for(lambda s: s["notes"] == "Hello, 世界! @#")


def test_viewer_text_is_typed_exactly_and_leaves_nothing_held(
    injector: X11Injector, ehr: SampleApp, xconn: Any
) -> None:
    """A `text` message (the viewer's composed text: kanji, kana, ASCII of both Shift levels,
    an astral kanji) arrives unchanged, and no key stays pressed after it."""
    click(injector, *ehr.center("notes"))
    injector.inject(Text("患者 Tanaka 様: 𠮷野家@3"))
    ehr.wait_for(lambda s: s["notes"] == "患者 Tanaka 様: 𠮷野家@3")
    eventually(lambda: pressed_keycodes(xconn), [])


def test_shift_is_lifted_for_characters_that_need_none(
    injector: X11Injector, ehr: SampleApp
) -> None:
    """JIS Shift+7 (') and Shift+- (=) type ' and = where the host has them unshifted."""
    type_jis(injector, "'=\"")
    ehr.wait_for(lambda s: s["notes"] == "'=\"")


def test_capslock_on_the_host_does_not_change_exact_letters(
    injector: X11Injector, ehr: SampleApp
) -> None:
    """With CapsLock on at the host, 'a' and 'B' still arrive as 'a' and 'B'."""
    tap(injector, "CapsLock", "CapsLock")
    try:
        type_jis(injector, "aB")
        ehr.wait_for(lambda s: s["notes"] == "aB")
    finally:
        tap(injector, "CapsLock", "CapsLock")


def test_keypad_digits_arrive_with_numlock_off(injector: X11Injector, ehr: SampleApp) -> None:
    """Keypad '1' and '+' type 1 and + although the host's NumLock is off."""
    tap(injector, "Numpad1", "1")
    tap(injector, "NumpadAdd", "+")
    ehr.wait_for(lambda s: s["notes"] == "1+" and s["keys"] == ["KP_1", "KP_Add"])


def test_named_keys_keep_held_modifiers(injector: X11Injector, ehr: SampleApp) -> None:
    """Shift+Tab reaches the app as Shift+Tab (ISO_Left_Tab), not as a plain Tab."""
    injector.inject(Key("ShiftLeft", "Shift", True))
    tap(injector, "Tab", "Tab")
    injector.inject(Key("ShiftLeft", "Shift", False))
    ehr.wait_for(lambda s: s["keys"] == ["Shift_L", "ISO_Left_Tab"])


def test_japanese_keys_arrive_as_their_keysyms(injector: X11Injector, ehr: SampleApp) -> None:
    """変換, 無変換, カタカナひらがな, かな, 英数 and 半角/全角 reach the app as X keysyms."""
    for code, key in [
        ("Convert", "Convert"),
        ("NonConvert", "NonConvert"),
        ("KanaMode", "KanaMode"),
        ("Lang1", "KanaMode"),
        ("Lang2", "Eisu"),
        ("Backquote", "Zenkaku"),
    ]:
        tap(injector, code, key)
    expected = [
        "Henkan_Mode",
        "Muhenkan",
        "Hiragana_Katakana",
        "Hiragana_Katakana",
        "Eisu_toggle",
        "Zenkaku_Hankaku",
    ]
    ehr.wait_for(lambda s: s["keys"] == expected)


def test_more_unmapped_characters_than_spare_keycodes(
    injector: X11Injector, ehr: SampleApp, xconn: Any
) -> None:
    """A burst of more distinct kana than there are spare keycodes arrives in order."""
    text = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめも"
    assert len(set(text)) > len(unbound_keycodes(xconn))
    type_jis(injector, text)
    ehr.wait_for(lambda s: s["notes"] == text, timeout=10)


def test_held_key_does_not_autorepeat_on_the_host(
    injector: X11Injector, ehr: SampleApp, xconn: Any
) -> None:
    """A key held past the server's repeat delay types once; its autorepeat comes back."""
    injector.inject(Key("KeyA", "a", True))
    time.sleep(1.0)  # Xvfb starts repeating after 660 ms.
    injector.inject(Key("KeyA", "a", False))
    ehr.wait_for(lambda s: s["keys"] == ["a"])
    time.sleep(0.1)
    assert ehr.state()["notes"] == "a"
    keycode = xconn.keysym_to_keycode(ord("a"))
    repeats = xconn.get_keyboard_control().auto_repeats
    assert repeats[keycode // 8] & (1 << (keycode % 8))


def test_click_on_save_button_saves(injector: X11Injector, ehr: SampleApp) -> None:
    """A left click on 保存 runs the app's save once."""
    click(injector, *ehr.center("save_button"))
    ehr.wait_for(lambda s: s["saves"] == 1)


def test_click_on_patient_row_selects_it(injector: X11Injector, ehr: SampleApp) -> None:
    """A left click on a patient row selects that patient."""
    x, y, w, h = ehr.state()["patient_rows"]["P-1003"]
    click(injector, x + w // 2, y + h // 2)
    ehr.wait_for(lambda s: s["selected"] == "P-1003")


def test_key_release_matches_its_press_by_code(injector: X11Injector, xconn: Any) -> None:
    """Shift+2 pressed as '@' and released as '2' (Shift let go first) releases the key."""
    injector.inject(Key("ShiftLeft", "Shift", True))
    injector.inject(Key("Digit2", "@", True))
    injector.inject(Key("ShiftLeft", "Shift", False))
    eventually(lambda: len(pressed_keycodes(xconn)), 1)
    injector.inject(Key("Digit2", "2", False))
    eventually(lambda: pressed_keycodes(xconn), [])


def test_release_all_leaves_nothing_pressed(injector: X11Injector, xconn: Any) -> None:
    """release_all lets go of held keys (bound spares included) and mouse buttons."""
    injector.inject(Key("ControlLeft", "Control", True))
    injector.inject(Key("ShiftLeft", "Shift", True))
    injector.inject(Key("KeyA", "A", True))
    injector.inject(Key("", "世", True))
    injector.inject(Key("Convert", "Convert", True))
    injector.inject(PointerButton(0, True, 10, 10))
    injector.inject(PointerButton(2, True, 10, 10))
    eventually(lambda: len(pressed_keycodes(xconn)), 5)
    eventually(lambda: pressed_buttons(xconn), X.Button1Mask | X.Button3Mask)
    injector.release_all()
    eventually(lambda: pressed_keycodes(xconn), [])
    eventually(lambda: pressed_buttons(xconn), 0)


def test_release_all_event_releases_too(injector: X11Injector, xconn: Any) -> None:
    """The channel's ReleaseAll message has the same effect as release_all()."""
    injector.inject(Key("AltLeft", "Alt", True))
    injector.inject(PointerButton(1, True, 10, 10))
    eventually(lambda: pressed_buttons(xconn), X.Button2Mask)
    injector.inject(ReleaseAll())
    eventually(lambda: pressed_keycodes(xconn), [])
    eventually(lambda: pressed_buttons(xconn), 0)


class Listener:
    """A full-screen window that records the button presses it receives."""

    def __init__(self, name: str) -> None:
        self.conn = xdisplay.Display(name)
        screen = self.conn.screen()
        self.window = screen.root.create_window(
            0,
            0,
            screen.width_in_pixels,
            screen.height_in_pixels,
            0,
            screen.root_depth,
            event_mask=X.ButtonPressMask | X.ExposureMask,
            override_redirect=True,
        )
        self.window.map()
        self.conn.sync()
        self.next(X.Expose)

    def next(self, event_type: int, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.conn.pending_events():
                event = self.conn.next_event()
                if event.type == event_type:
                    return event
            time.sleep(0.005)
        raise TimeoutError(f"no X event of type {event_type}")

    def close(self) -> None:
        self.window.destroy()
        self.conn.close()


@pytest.fixture
def listener(xvfb: XvfbDisplay) -> Iterator[Listener]:
    """A window on top of everything, recording button presses."""
    window = Listener(xvfb.name)
    yield window
    window.close()


def test_buttons_and_wheel_map_to_x_buttons(injector: X11Injector, listener: Listener) -> None:
    """Browser buttons 0-4 become X 1, 2, 3, 8, 9; one X wheel click per notch, 4-7."""
    for button in range(5):
        click(injector, 100 + button, 200, button)
    injector.inject(Wheel(0, 2, 300, 400))
    injector.inject(Wheel(0, -1, 300, 400))
    injector.inject(Wheel(1, 0, 300, 400))
    injector.inject(Wheel(-1, 0, 300, 400))
    events = [listener.next(X.ButtonPress) for _ in range(10)]
    assert [e.detail for e in events] == [1, 2, 3, 8, 9, 5, 5, 4, 7, 6]
    assert [(e.root_x, e.root_y) for e in events[:5]] == [(100 + b, 200) for b in range(5)]
    assert {(e.root_x, e.root_y) for e in events[5:]} == {(300, 400)}


def test_close_unbinds_spare_keycodes(xvfb: XvfbDisplay, xconn: Any) -> None:
    """Keycodes bound for unmapped characters (keys and viewer text) are free again after
    close()."""
    before = unbound_keycodes(xconn)
    inj = X11Injector(xvfb.name)
    tap(inj, "", "界")
    tap(inj, "Backquote", "Zenkaku")
    inj.inject(Text("钱"))
    assert len(unbound_keycodes(xconn)) == len(before) - 3
    inj.close()
    assert unbound_keycodes(xconn) == before


def test_open_injector_picks_the_x11_backend(xvfb: XvfbDisplay) -> None:
    """open_injector on an X display returns the XTEST injector."""
    inj = open_injector(xvfb.name)
    try:
        assert isinstance(inj, X11Injector)
    finally:
        inj.close()


# python-xlib leaves its sockets open when a connection attempt fails.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_open_injector_names_a_missing_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DISPLAY, or with a display that is not there, the error says so."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(InjectionError, match="DISPLAY"):
        open_injector(None)
    with pytest.raises(InjectionError, match=":987"):
        open_injector(":987")
