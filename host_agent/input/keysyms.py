"""Browser key events -> X keysyms, with no X connection.

A browser reports two things per key event: ``code``, the physical key (US position names
such as ``"KeyA"`` or ``"Backquote"``), and ``key``, what the viewer's keyboard layout and
modifiers produced (``"a"``, ``"@"``, ``"Enter"``, ``"Convert"``). The host must type what the
user meant, whatever layout the viewing PC uses, so:

1. A named ``key`` ("Enter", "ArrowUp", "Convert", "Zenkaku"...) maps to its keysym; ``code``
   only picks the left or right modifier and the keypad variants.
2. A ``key`` that is one character maps to the keysym of that character (Latin-1 keysyms are
   the code point, everything else is ``0x01000000 + code point``). Such a target is *exact*:
   the backend produces that character whatever modifiers are held (see ``KeyTarget``).
3. When ``key`` is unusable ("Dead", "Process" while the viewer's IME composes,
   "Unidentified", an unknown name), a character key is *physical*: the backend presses
   the host's key at the position ``code`` names, and the host's held modifiers and layout
   decide the character, as on a keyboard plugged into the host (a JIS host types "@" for
   BracketLeft, a US host "["). The US meaning of ``code`` is the keysym where the backend
   cannot find the position, and for every other key (Enter, Convert, F1...).

The keysym values are from X11's ``keysymdef.h``; the Japanese keys are chosen so that the
host's IME (Mozc, fcitx, ibus) sees what a JIS keyboard plugged into it would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Keysyms for the Latin-1 range equal their code point; X reserves this offset for the rest
# of Unicode (keysymdef.h, "Unicode characters").
UNICODE_OFFSET: Final = 0x01000000
_MAX_UNICODE: Final = 0x10FFFF

# Japanese keys (keysymdef.h "Japanese keyboard support").
XK_KANJI: Final = 0xFF21
XK_MUHENKAN: Final = 0xFF22
XK_HENKAN_MODE: Final = 0xFF23
XK_ROMAJI: Final = 0xFF24
XK_HIRAGANA: Final = 0xFF25
XK_KATAKANA: Final = 0xFF26
XK_HIRAGANA_KATAKANA: Final = 0xFF27
XK_ZENKAKU_HANKAKU: Final = 0xFF2A
XK_EISU_TOGGLE: Final = 0xFF30

XK_BACKSLASH: Final = 0x5C

_F1: Final = 0xFFBE

# Named KeyboardEvent.key values (UI Events KeyboardEvent key Values) that need no ``code``.
_NAMED: Final[dict[str, int]] = {
    "Enter": 0xFF0D,
    "Tab": 0xFF09,
    "Backspace": 0xFF08,
    "Escape": 0xFF1B,
    "Esc": 0xFF1B,  # Old Edge and Firefox spellings.
    "ArrowLeft": 0xFF51,
    "ArrowUp": 0xFF52,
    "ArrowRight": 0xFF53,
    "ArrowDown": 0xFF54,
    "Left": 0xFF51,
    "Up": 0xFF52,
    "Right": 0xFF53,
    "Down": 0xFF54,
    "Home": 0xFF50,
    "End": 0xFF57,
    "PageUp": 0xFF55,
    "PageDown": 0xFF56,
    "Insert": 0xFF63,
    "Delete": 0xFFFF,
    "Del": 0xFFFF,
    "Clear": 0xFF0B,
    "CapsLock": 0xFFE5,
    "NumLock": 0xFF7F,
    "ScrollLock": 0xFF14,
    "Pause": 0xFF13,
    "PrintScreen": 0xFF61,
    "ContextMenu": 0xFF67,
    "Apps": 0xFF67,
    "Help": 0xFF6A,
    "Select": 0xFF60,
    "Execute": 0xFF62,
    "Cancel": 0xFF69,
    "Find": 0xFF68,
    "Undo": 0xFF65,
    "Redo": 0xFF66,
    "AltGraph": 0xFE03,  # ISO_Level3_Shift, what AltGr is on X layouts.
    # Japanese keys. On a JIS keyboard 変換/無変換 drive the IME's conversion.
    "Convert": XK_HENKAN_MODE,
    "NonConvert": XK_MUHENKAN,
    "KanaMode": XK_HIRAGANA_KATAKANA,
    "HiraganaKatakana": XK_HIRAGANA_KATAKANA,
    "Hiragana": XK_HIRAGANA,
    "Katakana": XK_KATAKANA,
    "Romaji": XK_ROMAJI,
    # 半角/全角: Chrome says "Zenkaku" or "Hankaku" (the mode it switches to), Firefox
    # "ZenkakuHankaku", Windows without an IME "KanjiMode" (VK_KANJI is that same key).
    "Zenkaku": XK_ZENKAKU_HANKAKU,
    "Hankaku": XK_ZENKAKU_HANKAKU,
    "ZenkakuHankaku": XK_ZENKAKU_HANKAKU,
    "KanjiMode": XK_ZENKAKU_HANKAKU,
    # 英数: Mac JIS says "Eisu"; Windows JIS says "Alphanumeric" for the CapsLock/英数 key,
    # which the X "jp" layout also maps to Eisu_toggle.
    "Eisu": XK_EISU_TOGGLE,
    "Alphanumeric": XK_EISU_TOGGLE,
}
_NAMED.update({f"F{n}": _F1 + n - 1 for n in range(1, 25)})

# Modifier key values: (left keysym, right keysym); ``code`` ending in "Right" picks the right.
_MODIFIERS: Final[dict[str, tuple[int, int]]] = {
    "Shift": (0xFFE1, 0xFFE2),
    "Control": (0xFFE3, 0xFFE4),
    "Alt": (0xFFE9, 0xFFEA),
    # The Windows key / Mac Command key: X desktops bind the Windows key as Super.
    "Meta": (0xFFEB, 0xFFEC),
    "OS": (0xFFEB, 0xFFEC),  # Firefox before 118.
    "Super": (0xFFEB, 0xFFEC),
    "Hyper": (0xFFED, 0xFFEE),
}

# Keypad keys: X has distinct keysyms for them, and apps (and NumLock) treat them apart.
_KEYPAD_CHARS: Final[dict[str, int]] = {
    **{str(n): 0xFFB0 + n for n in range(10)},
    ".": 0xFFAE,  # KP_Decimal
    ",": 0xFFAC,  # KP_Separator (JIS and some European keypads)
    "+": 0xFFAB,
    "-": 0xFFAD,
    "*": 0xFFAA,
    "/": 0xFFAF,
    "=": 0xFFBD,
}
# What a keypad key says with NumLock off.
_KEYPAD_NAMED: Final[dict[str, int]] = {
    "Home": 0xFF95,
    "ArrowLeft": 0xFF96,
    "ArrowUp": 0xFF97,
    "ArrowRight": 0xFF98,
    "ArrowDown": 0xFF99,
    "PageUp": 0xFF9A,
    "PageDown": 0xFF9B,
    "End": 0xFF9C,
    "Clear": 0xFF9D,  # KP_Begin, the 5 key
    "Insert": 0xFF9E,
    "Delete": 0xFF9F,
    "Enter": 0xFF8D,
}

# The US meaning of each ``code``: the fallback when ``key`` says nothing useful.
_US_CHARS: Final = {
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
    # The 102nd key of ISO boards; the US Windows layout gives it a backslash.
    "IntlBackslash": "\\",
}
_CODES: Final[dict[str, int]] = {
    **{code: ord(ch) for code, ch in _US_CHARS.items()},
    **{f"F{n}": _F1 + n - 1 for n in range(1, 25)},
    **{f"Numpad{n}": 0xFFB0 + n for n in range(10)},
    "NumpadDecimal": 0xFFAE,
    "NumpadComma": 0xFFAC,
    "NumpadAdd": 0xFFAB,
    "NumpadSubtract": 0xFFAD,
    "NumpadMultiply": 0xFFAA,
    "NumpadDivide": 0xFFAF,
    "NumpadEqual": 0xFFBD,
    "NumpadEnter": 0xFF8D,
    "Enter": 0xFF0D,
    "Tab": 0xFF09,
    "Backspace": 0xFF08,
    "Escape": 0xFF1B,
    "CapsLock": 0xFFE5,
    "NumLock": 0xFF7F,
    "ScrollLock": 0xFF14,
    "Pause": 0xFF13,
    "PrintScreen": 0xFF61,
    "ContextMenu": 0xFF67,
    "ArrowLeft": 0xFF51,
    "ArrowUp": 0xFF52,
    "ArrowRight": 0xFF53,
    "ArrowDown": 0xFF54,
    "Home": 0xFF50,
    "End": 0xFF57,
    "PageUp": 0xFF55,
    "PageDown": 0xFF56,
    "Insert": 0xFF63,
    "Delete": 0xFFFF,
    "Help": 0xFF6A,
    "ShiftLeft": 0xFFE1,
    "ShiftRight": 0xFFE2,
    "ControlLeft": 0xFFE3,
    "ControlRight": 0xFFE4,
    "AltLeft": 0xFFE9,
    "AltRight": 0xFFEA,
    "MetaLeft": 0xFFEB,
    "MetaRight": 0xFFEC,
    "OSLeft": 0xFFEB,
    "OSRight": 0xFFEC,
    # Japanese physical keys (UI Events KeyboardEvent code Values, "IME and composition").
    "Convert": XK_HENKAN_MODE,
    "NonConvert": XK_MUHENKAN,
    "KanaMode": XK_HIRAGANA_KATAKANA,
    # Mac JIS かな. Hiragana_Katakana rather than Kana_Lock or Hiragana: it is what a JIS
    # PC keyboard's カタカナ/ひらがな key sends, every Japanese IME on X takes it as "kana
    # input on", and the default X keymaps (Xvfb's included) have a key for it.
    "Lang1": XK_HIRAGANA_KATAKANA,
    "Lang2": XK_EISU_TOGGLE,  # Mac JIS 英数
    "Lang3": XK_KATAKANA,
    "Lang4": XK_HIRAGANA,
    "Lang5": XK_ZENKAKU_HANKAKU,
    # The X "jp" layout gives both JIS-only keys a backslash (¥ on a JIS keycap is 0x5C).
    "IntlYen": XK_BACKSLASH,
    "IntlRo": XK_BACKSLASH,
}

# Character keys that only JIS keyboards have (their US-meaning fallback is a backslash).
_INTL_CODES: Final = frozenset({"IntlYen", "IntlRo"})

# ``key`` values that say the character is not known yet (dead key, viewer-side IME).
_UNUSABLE: Final = frozenset({"Dead", "Process", "Unidentified", "Compose"})


@dataclass(frozen=True, slots=True)
class KeyTarget:
    """The X keysym a browser key event stands for.

    Attributes:
        keysym: the X keysym.
        exact: True when ``keysym`` is the very character the viewer typed: the backend
            must produce it whatever Shift/CapsLock state the host is in (``@`` typed on a
            JIS layout is Shift+2 on a US host). False for named and fallback keys, which
            are pressed as-is so that held modifiers apply (Shift+Tab, Shift+ArrowLeft).
        physical: True when the viewer did not know the character (``key`` unusable) and
            ``code`` is a character key: the backend presses the host's key at that
            position where it can, so that the host's layout decides what it types
            (``keysym``, the US meaning, is the fallback).
    """

    keysym: int
    exact: bool
    physical: bool = False


def char_to_keysym(char: str) -> int | None:
    """Return the keysym for one printable character, or None if there is none.

    Args:
        char: exactly one Unicode code point.
    """
    if len(char) != 1:
        return None
    point = ord(char)
    # C0/C1 controls and DEL are keys (Enter, Tab), never characters to type; surrogates
    # cannot reach here from valid UTF-8 JSON but are refused anyway.
    if point < 0x20 or 0x7F <= point < 0xA0 or 0xD800 <= point <= 0xDFFF:
        return None
    if point <= 0xFF:
        return point
    return UNICODE_OFFSET + point


def keysym_to_char(keysym: int) -> str | None:
    """Return the character a Latin-1 or Unicode keysym types, or None for other keysyms."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if UNICODE_OFFSET + 0xA0 <= keysym <= UNICODE_OFFSET + _MAX_UNICODE:
        point = keysym - UNICODE_OFFSET
        if not 0xD800 <= point <= 0xDFFF:
            return chr(point)
    return None


def is_keypad(keysym: int) -> bool:
    """True for the KP_* keysyms, whose level NumLock selects."""
    return 0xFF80 <= keysym <= 0xFFBD


def key_target(code: str, key: str) -> KeyTarget | None:
    """Map one browser key event to the keysym to inject.

    Args:
        code: ``KeyboardEvent.code`` (may be empty, e.g. on-screen keyboards).
        key: ``KeyboardEvent.key``.

    Returns:
        The target, or None when the event names no key we can type (it is then dropped).
    """
    numpad = code.startswith("Numpad")
    if key in _MODIFIERS:
        left, right = _MODIFIERS[key]
        return KeyTarget(right if code.endswith("Right") else left, exact=False)
    if numpad and key in _KEYPAD_NAMED:
        return KeyTarget(_KEYPAD_NAMED[key], exact=False)
    if key in _NAMED:
        return KeyTarget(_NAMED[key], exact=False)
    if numpad and key in _KEYPAD_CHARS:
        # Exact, so NumLock off on the host still types the digit the viewer saw.
        return KeyTarget(_KEYPAD_CHARS[key], exact=True)
    if key not in _UNUSABLE:
        keysym = char_to_keysym(key)
        if keysym is not None:
            return KeyTarget(keysym, exact=True)
    fallback = _CODES.get(code)
    if fallback is None:
        return None
    return KeyTarget(fallback, exact=False, physical=code in _US_CHARS or code in _INTL_CODES)
