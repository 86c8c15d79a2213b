"""Browser ``KeyboardEvent.code`` <-> PC set-1 scan code, for SendInput: pure data.

The Windows injector types *physical keys* (``KEYEVENTF_SCANCODE``), the way a keyboard
plugged into the clinic PC would, so that the host's own IME (MS-IME, ATOK, Google 日本語入力)
sees real key presses and converts romaji, kana and 変換 as it does for a local user. The
host's keyboard layout decides which character a key types, as it does for RDP, which sends
scan codes too: a viewer on a JIS keyboard types what the keycaps say on a JIS clinic PC.

``code`` names a key by its position (UI Events KeyboardEvent code Values, which a browser
derives from the scan code), so the table is the inverse of the browsers' own: the values
follow Chromium's ``dom_code_data.inc`` Win column (USB HID usage -> set-1 make code; ``E0``
codes are sent with ``KEYEVENTF_EXTENDEDKEY``). The Japanese keys:

========================  ============  ====================================================
code                      scan code     key on a JIS keyboard
========================  ============  ====================================================
``Backquote``             ``0x29``      半角/全角 (漢字): UI Events puts it on Backquote
``Convert``               ``0x79``      変換
``NonConvert``            ``0x7B``      無変換
``KanaMode``              ``0x70``      カタカナ/ひらがな (かな)
``IntlYen``               ``0x7D``      ¥ (right of ^)
``IntlRo``                ``0x73``      ろ / \\ (left of right Shift)
``Lang1`` / ``Lang2``     ``0x72/0x71`` かな / 英数 of a Mac JIS keyboard (what Windows
                                        makes of that keyboard's keys)
========================  ============  ====================================================

``Lang5`` (Zenkaku/Hankaku in USB HID) has no scan code of its own on Windows (Chromium's
note W1): the key is 0x29 everywhere, so ``Lang5`` is an alias of ``Backquote``.

Two keys cannot be typed by scan code alone: Pause (``E1 1D 45`` on the wire) and NumLock
share make code 0x45 and Windows flips their extended bit; both are sent by virtual key
(``vk``) with the scan code beside it. Power, Sleep, WakeUp and Eject are left out on
purpose: a viewer's key must never switch the clinic PC off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ScanCode:
    """One physical key for SendInput.

    Attributes:
        make: the set-1 make code without its prefix (0x01..0x7F).
        extended: the key's code has the ``E0`` prefix (``KEYEVENTF_EXTENDEDKEY``).
        vk: when not 0, send this virtual key instead of the scan code (see the module).
    """

    make: int
    extended: bool = False
    vk: int = 0


def _e0(make: int) -> ScanCode:
    return ScanCode(make, extended=True)


_LETTERS: Final = {
    "Q": 0x10, "W": 0x11, "E": 0x12, "R": 0x13, "T": 0x14, "Y": 0x15, "U": 0x16, "I": 0x17,
    "O": 0x18, "P": 0x19, "A": 0x1E, "S": 0x1F, "D": 0x20, "F": 0x21, "G": 0x22, "H": 0x23,
    "J": 0x24, "K": 0x25, "L": 0x26, "Z": 0x2C, "X": 0x2D, "C": 0x2E, "V": 0x2F, "B": 0x30,
    "N": 0x31, "M": 0x32,
}  # fmt: skip

# The canonical code of every key, with its scan code. Every scan code appears once.
SCANCODES: Final[dict[str, ScanCode]] = {
    **{f"Key{letter}": ScanCode(make) for letter, make in _LETTERS.items()},
    **{f"Digit{n}": ScanCode(0x01 + n) for n in range(1, 10)},
    "Digit0": ScanCode(0x0B),
    "Escape": ScanCode(0x01),
    "Minus": ScanCode(0x0C),
    "Equal": ScanCode(0x0D),  # ^ on JIS
    "Backspace": ScanCode(0x0E),
    "Tab": ScanCode(0x0F),
    "BracketLeft": ScanCode(0x1A),  # @ on JIS
    "BracketRight": ScanCode(0x1B),  # [ on JIS
    "Enter": ScanCode(0x1C),
    "ControlLeft": ScanCode(0x1D),
    "Semicolon": ScanCode(0x27),
    "Quote": ScanCode(0x28),  # : on JIS
    "Backquote": ScanCode(0x29),  # 半角/全角 on JIS
    "ShiftLeft": ScanCode(0x2A),
    "Backslash": ScanCode(0x2B),  # ] on JIS
    "Comma": ScanCode(0x33),
    "Period": ScanCode(0x34),
    "Slash": ScanCode(0x35),
    "ShiftRight": ScanCode(0x36),
    "NumpadMultiply": ScanCode(0x37),
    "AltLeft": ScanCode(0x38),
    "Space": ScanCode(0x39),
    "CapsLock": ScanCode(0x3A),  # 英数 on JIS
    **{f"F{n}": ScanCode(0x3A + n) for n in range(1, 11)},
    "Pause": ScanCode(0x45, vk=0x13),  # VK_PAUSE
    "ScrollLock": ScanCode(0x46),
    "Numpad7": ScanCode(0x47),
    "Numpad8": ScanCode(0x48),
    "Numpad9": ScanCode(0x49),
    "NumpadSubtract": ScanCode(0x4A),
    "Numpad4": ScanCode(0x4B),
    "Numpad5": ScanCode(0x4C),
    "Numpad6": ScanCode(0x4D),
    "NumpadAdd": ScanCode(0x4E),
    "Numpad1": ScanCode(0x4F),
    "Numpad2": ScanCode(0x50),
    "Numpad3": ScanCode(0x51),
    "Numpad0": ScanCode(0x52),
    "NumpadDecimal": ScanCode(0x53),
    "IntlBackslash": ScanCode(0x56),
    "F11": ScanCode(0x57),
    "F12": ScanCode(0x58),
    "NumpadEqual": ScanCode(0x59),
    **{f"F{n}": ScanCode(0x64 + n - 13) for n in range(13, 24)},
    "KanaMode": ScanCode(0x70),
    "Lang2": ScanCode(0x71),
    "Lang1": ScanCode(0x72),
    "IntlRo": ScanCode(0x73),
    "F24": ScanCode(0x76),
    "Lang4": ScanCode(0x77),
    "Lang3": ScanCode(0x78),
    "Convert": ScanCode(0x79),
    "NonConvert": ScanCode(0x7B),
    "IntlYen": ScanCode(0x7D),
    "NumpadComma": ScanCode(0x7E),
    "Undo": _e0(0x08),
    "Paste": _e0(0x0A),
    "Cut": _e0(0x17),
    "Copy": _e0(0x18),
    "NumpadEnter": _e0(0x1C),
    "ControlRight": _e0(0x1D),
    "AudioVolumeMute": _e0(0x20),
    "AudioVolumeDown": _e0(0x2E),
    "AudioVolumeUp": _e0(0x30),
    "NumpadDivide": _e0(0x35),
    "PrintScreen": _e0(0x37),
    "AltRight": _e0(0x38),
    "Help": _e0(0x3B),
    "NumLock": ScanCode(0x45, extended=True, vk=0x90),  # VK_NUMLOCK
    "Home": _e0(0x47),
    "ArrowUp": _e0(0x48),
    "PageUp": _e0(0x49),
    "ArrowLeft": _e0(0x4B),
    "ArrowRight": _e0(0x4D),
    "End": _e0(0x4F),
    "ArrowDown": _e0(0x50),
    "PageDown": _e0(0x51),
    "Insert": _e0(0x52),
    "Delete": _e0(0x53),
    "MetaLeft": _e0(0x5B),
    "MetaRight": _e0(0x5C),
    "ContextMenu": _e0(0x5D),
}

# Other spellings of the same physical key.
ALIASES: Final[dict[str, str]] = {
    "OSLeft": "MetaLeft",  # Firefox before 118
    "OSRight": "MetaRight",
    "Lang5": "Backquote",  # see the module docstring
}

# (make, extended) -> canonical code: the reverse direction, for the tests and the logs.
CODES: Final[dict[tuple[int, bool], str]] = {
    (scan.make, scan.extended): code for code, scan in SCANCODES.items()
}

# A ``key`` that names a key, for events without a usable ``code`` (on-screen keyboards send
# ``code: ""``): the key it stands for on a JIS PC keyboard.
NAMED_KEYS: Final[dict[str, str]] = {
    "Enter": "Enter",
    "Tab": "Tab",
    "Backspace": "Backspace",
    "Escape": "Escape",
    "Esc": "Escape",
    "Delete": "Delete",
    "Del": "Delete",
    "Insert": "Insert",
    "Home": "Home",
    "End": "End",
    "PageUp": "PageUp",
    "PageDown": "PageDown",
    "ArrowLeft": "ArrowLeft",
    "ArrowUp": "ArrowUp",
    "ArrowRight": "ArrowRight",
    "ArrowDown": "ArrowDown",
    "Left": "ArrowLeft",
    "Up": "ArrowUp",
    "Right": "ArrowRight",
    "Down": "ArrowDown",
    "CapsLock": "CapsLock",
    "Shift": "ShiftLeft",
    "Control": "ControlLeft",
    "Alt": "AltLeft",
    "Meta": "MetaLeft",
    "ContextMenu": "ContextMenu",
    "PrintScreen": "PrintScreen",
    "Convert": "Convert",
    "NonConvert": "NonConvert",
    "KanaMode": "KanaMode",
    "HiraganaKatakana": "KanaMode",
    "Zenkaku": "Backquote",
    "Hankaku": "Backquote",
    "ZenkakuHankaku": "Backquote",
    "KanjiMode": "Backquote",
    "Alphanumeric": "CapsLock",  # 英数 is the CapsLock key of a JIS keyboard
    "Eisu": "Lang2",
    **{f"F{n}": f"F{n}" for n in range(1, 25)},
}

# ``key`` values that say nothing about a character (a viewer-side IME composing, a dead key).
_NOT_TEXT: Final = frozenset({"Dead", "Process", "Unidentified", "Compose"})


def scancode_for(code: str) -> ScanCode | None:
    """The scan code of a ``KeyboardEvent.code`` (aliases included), or None."""
    return SCANCODES.get(ALIASES.get(code, code))


def code_for(make: int, extended: bool) -> str | None:
    """The canonical ``KeyboardEvent.code`` of a scan code, or None."""
    return CODES.get((make, extended))


def stroke_for(code: str, key: str) -> ScanCode | str | None:
    """What to send for one browser key event.

    Args:
        code: ``KeyboardEvent.code`` (may be empty).
        key: ``KeyboardEvent.key``.

    Returns:
        A ``ScanCode`` (a physical key, the normal case); else a one-character ``str`` to
        type as Unicode (``KEYEVENTF_UNICODE``: an on-screen keyboard without a ``code``;
        the host's IME does not see it); else None (nothing to send).
    """
    scan = scancode_for(code)
    if scan is not None:
        return scan
    named = NAMED_KEYS.get(key)
    if named is not None:
        return SCANCODES[named]
    if key in _NOT_TEXT or not key.isprintable():
        return None
    # One user-perceived character: one code point (a surrogate pair is one code point in
    # Python). Longer strings (combining sequences) are not typed; the browser sends them
    # one code point at a time anyway.
    return key if len(key) == 1 else None
