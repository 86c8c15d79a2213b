"""Browser key events -> X keysyms (host_agent.input.keysyms), pure logic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from host_agent.input.keysyms import (
    KeyTarget,
    char_to_keysym,
    is_keypad,
    key_target,
    keysym_to_char,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "key", "keysym"),
    [
        ("Enter", "Enter", 0xFF0D),
        ("Tab", "Tab", 0xFF09),
        ("Backspace", "Backspace", 0xFF08),
        ("Escape", "Escape", 0xFF1B),
        ("ArrowLeft", "ArrowLeft", 0xFF51),
        ("ArrowUp", "ArrowUp", 0xFF52),
        ("ArrowRight", "ArrowRight", 0xFF53),
        ("ArrowDown", "ArrowDown", 0xFF54),
        ("Home", "Home", 0xFF50),
        ("End", "End", 0xFF57),
        ("PageUp", "PageUp", 0xFF55),
        ("PageDown", "PageDown", 0xFF56),
        ("Insert", "Insert", 0xFF63),
        ("Delete", "Delete", 0xFFFF),
        ("F1", "F1", 0xFFBE),
        ("F12", "F12", 0xFFC9),
        ("F24", "F24", 0xFFD5),
        ("CapsLock", "CapsLock", 0xFFE5),
        ("NumLock", "NumLock", 0xFF7F),
        ("ContextMenu", "ContextMenu", 0xFF67),
        ("PrintScreen", "PrintScreen", 0xFF61),
        ("ScrollLock", "ScrollLock", 0xFF14),
        ("Pause", "Pause", 0xFF13),
    ],
)
def test_named_keys_map_to_their_keysyms(code: str, key: str, keysym: int) -> None:
    """Named, non-printing keys map to their X keysym and are pressed as-is."""
    assert key_target(code, key) == KeyTarget(keysym, exact=False)


@pytest.mark.parametrize(
    ("code", "key", "keysym"),
    [
        ("ShiftLeft", "Shift", 0xFFE1),
        ("ShiftRight", "Shift", 0xFFE2),
        ("ControlLeft", "Control", 0xFFE3),
        ("ControlRight", "Control", 0xFFE4),
        ("AltLeft", "Alt", 0xFFE9),
        ("AltRight", "Alt", 0xFFEA),
        ("MetaLeft", "Meta", 0xFFEB),
        ("MetaRight", "Meta", 0xFFEC),
        ("OSLeft", "OS", 0xFFEB),
        ("AltRight", "AltGraph", 0xFE03),
    ],
)
def test_modifiers_keep_their_side(code: str, key: str, keysym: int) -> None:
    """Left and right modifiers map to the left and right X keysyms."""
    assert key_target(code, key) == KeyTarget(keysym, exact=False)


@pytest.mark.parametrize(
    ("code", "key", "keysym"),
    [
        ("Convert", "Convert", 0xFF23),
        ("NonConvert", "NonConvert", 0xFF22),
        ("KanaMode", "KanaMode", 0xFF27),
        ("Lang1", "KanaMode", 0xFF27),
        ("Lang1", "Unidentified", 0xFF27),
        ("Lang2", "Eisu", 0xFF30),
        ("Lang2", "Unidentified", 0xFF30),
        ("Backquote", "Zenkaku", 0xFF2A),
        ("Backquote", "Hankaku", 0xFF2A),
        ("Backquote", "ZenkakuHankaku", 0xFF2A),
        ("Backquote", "KanjiMode", 0xFF2A),
        ("CapsLock", "Alphanumeric", 0xFF30),
        ("Convert", "Process", 0xFF23),
        ("NonConvert", "Unidentified", 0xFF22),
        ("Lang3", "Unidentified", 0xFF26),
        ("Lang4", "Unidentified", 0xFF25),
    ],
)
def test_japanese_keys(code: str, key: str, keysym: int) -> None:
    """変換, 無変換, かな, 英数 and 半角/全角 map to the keysyms a JIS keyboard sends."""
    assert key_target(code, key) == KeyTarget(keysym, exact=False)


@pytest.mark.parametrize(
    ("code", "key", "keysym"),
    [
        ("KeyA", "a", 0x61),
        ("KeyA", "A", 0x41),
        ("BracketLeft", "@", 0x40),  # JIS layout: @ is where US has [
        ("Digit2", '"', 0x22),  # JIS Shift+2
        ("IntlYen", "¥", 0xA5),  # Latin-1: the keysym is the code point
        ("IntlRo", "\\", 0x5C),
        ("KeyE", "é", 0xE9),
        ("", "世", 0x01004E16),  # beyond Latin-1: 0x01000000 + code point
        ("", "あ", 0x01003042),
        ("KeyA", "ち", 0x01003061),  # JIS kana input
        ("", "😀", 0x0101F600),
        ("Space", " ", 0x20),
    ],
)
def test_printable_characters_are_exact(code: str, key: str, keysym: int) -> None:
    """A one-character key maps to that character's keysym, whatever the layout, exactly."""
    assert key_target(code, key) == KeyTarget(keysym, exact=True)


@pytest.mark.parametrize(
    ("code", "key", "keysym", "physical"),
    [
        ("BracketLeft", "Dead", 0x5B, True),
        ("Equal", "Dead", 0x3D, True),
        ("KeyK", "Process", 0x6B, True),
        ("Digit1", "Unidentified", 0x31, True),
        ("Backquote", "Dead", 0x60, True),
        ("Quote", "Compose", 0x27, True),
        ("KeyQ", "SomeFutureKeyName", 0x71, True),
        ("IntlYen", "Unidentified", 0x5C, True),
        ("IntlRo", "Process", 0x5C, True),
        ("Space", "Process", 0x20, True),
        ("Enter", "Unidentified", 0xFF0D, False),
        ("ShiftLeft", "Unidentified", 0xFFE1, False),
        ("Convert", "Process", 0xFF23, False),
        ("KeyA", "ab", 0x61, True),  # several code points: not one character
    ],
)
def test_unusable_keys_fall_back_to_the_code(
    code: str, key: str, keysym: int, physical: bool
) -> None:
    """Dead, Process, Unidentified and unknown keys are the key at ``code``, pressed as-is:
    a character key by its position (the host's layout decides; the US meaning is the
    fallback keysym), any other key by its keysym."""
    assert key_target(code, key) == KeyTarget(keysym, exact=False, physical=physical)


@pytest.mark.parametrize(
    ("code", "key", "target"),
    [
        ("Numpad1", "1", KeyTarget(0xFFB1, exact=True)),
        ("Numpad0", "0", KeyTarget(0xFFB0, exact=True)),
        ("NumpadDecimal", ".", KeyTarget(0xFFAE, exact=True)),
        ("NumpadAdd", "+", KeyTarget(0xFFAB, exact=True)),
        ("NumpadDivide", "/", KeyTarget(0xFFAF, exact=True)),
        ("NumpadEnter", "Enter", KeyTarget(0xFF8D, exact=False)),
        ("Numpad7", "Home", KeyTarget(0xFF95, exact=False)),
        ("Numpad5", "Clear", KeyTarget(0xFF9D, exact=False)),
        ("NumpadDecimal", "Delete", KeyTarget(0xFF9F, exact=False)),
        ("Numpad3", "Unidentified", KeyTarget(0xFFB3, exact=False)),
    ],
)
def test_keypad_keys_map_to_kp_keysyms(code: str, key: str, target: KeyTarget) -> None:
    """Keypad keys map to the KP_* keysyms, digits with NumLock on, navigation off."""
    assert key_target(code, key) == target


@pytest.mark.parametrize(
    ("code", "key"),
    [
        ("", "Unidentified"),
        ("", "Process"),
        ("AudioVolumeUp", "AudioVolumeUp"),
        ("Fn", "Fn"),
        ("", "ab"),
    ],
)
def test_unknown_keys_map_to_nothing(code: str, key: str) -> None:
    """A key with neither a usable value nor a known code is dropped."""
    assert key_target(code, key) is None


def test_char_to_keysym_refuses_controls_and_surrogates() -> None:
    """Control characters and lone surrogates have no character keysym."""
    assert char_to_keysym("\t") is None
    assert char_to_keysym("\x7f") is None
    assert char_to_keysym("\x85") is None
    assert char_to_keysym("\ud800") is None
    assert char_to_keysym("") is None
    assert char_to_keysym("\xa0") == 0xA0


def test_keysym_to_char_inverts_char_to_keysym() -> None:
    """Latin-1 and Unicode keysyms turn back into their character; others into None."""
    for char in "aZ@¥é世ア😀":
        keysym = char_to_keysym(char)
        assert keysym is not None
        assert keysym_to_char(keysym) == char
    assert keysym_to_char(0xFF0D) is None
    assert keysym_to_char(0xFF23) is None


def test_is_keypad() -> None:
    """Only the KP_* keysyms count as keypad keysyms."""
    assert is_keypad(0xFFB1)
    assert is_keypad(0xFF8D)
    assert not is_keypad(0x31)
    assert not is_keypad(0xFF0D)


def test_keysyms_and_injection_do_not_load_xlib() -> None:
    """Importing the keysym table and the injector interface does not import python-xlib."""
    code = (
        "import sys, host_agent.input.injection, host_agent.input.keysyms; "
        "print(any(m == 'Xlib' or m.startswith('Xlib.') for m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
