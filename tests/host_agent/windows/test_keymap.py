"""Browser KeyboardEvent.code <-> set-1 scan codes (host_agent.platform.windows.keymap)."""

from __future__ import annotations

import pytest

from host_agent.input import keysyms
from host_agent.platform.windows.keymap import (
    ALIASES,
    CODES,
    NAMED_KEYS,
    SCANCODES,
    ScanCode,
    code_for,
    scancode_for,
    stroke_for,
)

pytestmark = pytest.mark.unit

JIS_KEYS = [
    # (code the viewer sends, make code, E0, the key on a JIS keyboard)
    ("Backquote", 0x29, False, "半角/全角"),
    ("Convert", 0x79, False, "変換"),
    ("NonConvert", 0x7B, False, "無変換"),
    ("KanaMode", 0x70, False, "カタカナ/ひらがな"),
    ("IntlYen", 0x7D, False, "¥"),
    ("IntlRo", 0x73, False, "ろ"),
    ("Lang1", 0x72, False, "かな (Mac JIS)"),
    ("Lang2", 0x71, False, "英数 (Mac JIS)"),
    ("CapsLock", 0x3A, False, "英数"),
    ("Equal", 0x0D, False, "^"),
    ("BracketLeft", 0x1A, False, "@"),
    ("Quote", 0x28, False, ":"),
]


@pytest.mark.parametrize(("code", "make", "extended", "label"), JIS_KEYS)
def test_jis_keys_map_both_ways(code: str, make: int, extended: bool, label: str) -> None:
    """Each JIS key's code gives its scan code, and that scan code gives the code back."""
    scan = scancode_for(code)
    assert scan is not None, label
    assert (scan.make, scan.extended) == (make, extended), label
    assert code_for(make, extended) == code, label


@pytest.mark.parametrize("code", sorted(SCANCODES))
def test_every_code_round_trips(code: str) -> None:
    """code -> scan code -> code is the identity for every key in the table."""
    scan = SCANCODES[code]
    assert code_for(scan.make, scan.extended) == code


@pytest.mark.parametrize(("make", "extended"), sorted(CODES))
def test_every_scancode_round_trips(make: int, extended: bool) -> None:
    """scan code -> code -> scan code is the identity for every scan code in the table."""
    code = code_for(make, extended)
    assert code is not None
    scan = scancode_for(code)
    assert scan is not None
    assert (scan.make, scan.extended) == (make, extended)


def test_scan_codes_are_unique_and_in_range() -> None:
    """No two codes share a scan code, and every make code fits set 1 (0x01..0x7F)."""
    pairs = [(scan.make, scan.extended) for scan in SCANCODES.values()]
    assert len(pairs) == len(set(pairs))
    assert all(0x01 <= make <= 0x7F for make, _ in pairs)


def test_navigation_keys_and_right_modifiers_are_extended() -> None:
    """The E0 keys: arrows, the six above them, the right Ctrl/Alt, the Windows keys."""
    extended = {code for code, scan in SCANCODES.items() if scan.extended}
    assert {
        "ArrowLeft", "ArrowUp", "ArrowRight", "ArrowDown", "Home", "End", "PageUp",
        "PageDown", "Insert", "Delete", "ControlRight", "AltRight", "MetaLeft", "MetaRight",
        "NumpadEnter", "NumpadDivide", "ContextMenu", "PrintScreen",
    } <= extended  # fmt: skip
    assert not {"ShiftRight", "ControlLeft", "AltLeft", "Enter", "Backquote"} & extended


def test_pause_and_numlock_go_by_virtual_key() -> None:
    """Pause and NumLock share make code 0x45: both are sent by VK with the scan beside."""
    assert SCANCODES["Pause"] == ScanCode(0x45, extended=False, vk=0x13)
    assert SCANCODES["NumLock"] == ScanCode(0x45, extended=True, vk=0x90)


def test_no_key_can_switch_the_pc_off() -> None:
    """Power, Sleep, WakeUp and Eject are not in the table."""
    assert not {"Power", "Sleep", "WakeUp", "Eject"} & set(SCANCODES)
    assert all(scancode_for(code) is None for code in ("Power", "Sleep", "WakeUp", "Eject"))


def test_aliases_reach_the_same_key() -> None:
    """Old Firefox's OSLeft is MetaLeft; Lang5 (HID Zenkaku/Hankaku) is the 0x29 key."""
    for alias, code in ALIASES.items():
        assert scancode_for(alias) == SCANCODES[code]
    assert scancode_for("Lang5") == ScanCode(0x29)


def test_every_code_the_x11_backend_knows_has_a_scan_code() -> None:
    """The Windows table covers every physical key the X11 backend maps (same viewers)."""
    missing = [code for code in keysyms._CODES if scancode_for(code) is None]
    assert missing == []


@pytest.mark.parametrize(
    ("code", "key", "expected"),
    [
        ("KeyA", "a", SCANCODES["KeyA"]),
        ("KeyA", "Process", SCANCODES["KeyA"]),  # the viewer's IME composing: still the key
        ("Backquote", "Zenkaku", SCANCODES["Backquote"]),
        ("", "Enter", SCANCODES["Enter"]),  # on-screen keyboard
        ("", "Zenkaku", SCANCODES["Backquote"]),
        ("", "Alphanumeric", SCANCODES["CapsLock"]),
        ("", "あ", "あ"),
        ("", "𠮷", "𠮷"),
        ("", "Process", None),
        ("", "Dead", None),
        ("", "ab", None),
        ("Fn", "Fn", None),
        ("IntlHash", "#", "#"),  # a code Windows has no scan code for: the character
    ],
)
def test_stroke_for_a_browser_event(code: str, key: str, expected: object) -> None:
    """A known code is its key; otherwise a named key; otherwise one character as text."""
    assert stroke_for(code, key) == expected


def test_named_keys_name_real_codes() -> None:
    """Every named-key fallback points at a key in the table."""
    assert all(code in SCANCODES for code in NAMED_KEYS.values())
