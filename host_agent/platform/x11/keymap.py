"""The X server's core keyboard mapping, and where physical keys sit in it.

``Keymap`` indexes the mapping by keysym for the injector (host_agent/platform/x11/
injector.py). ``physical_keycode`` answers the other question, "which keycode is the key at
this position?", for key events whose character the viewer did not know (``keysyms.
KeyTarget.physical``): there the host's own layout must interpret the key, as it would a
key of a keyboard plugged into the host.
"""

from __future__ import annotations

from typing import Any, Final

from Xlib import X

from host_agent.input.keysyms import keysym_to_char

# X keycode = evdev code + 8, and evdev code 0 is KEY_RESERVED: keycode 8 is never a key.
_EVDEV_OFFSET: Final = 8
_FIRST_SPARE_KEYCODE: Final = 9

# KeyboardEvent.code of the character keys -> Linux evdev code (input-event-codes.h). The
# X server's keycode is this + 8 when its keymap comes from the "evdev" XKB rules, as on
# Xorg with libinput or evdev and on Xvfb.
_EVDEV_CODES: Final[dict[str, int]] = {
    **{f"Digit{n}": 1 + n for n in range(1, 10)},
    "Digit0": 11,
    "Minus": 12,
    "Equal": 13,
    **{f"Key{c}": 16 + i for i, c in enumerate("QWERTYUIOP")},
    "BracketLeft": 26,
    "BracketRight": 27,
    **{f"Key{c}": 30 + i for i, c in enumerate("ASDFGHJKL")},
    "Semicolon": 39,
    "Quote": 40,
    # The 半角/全角 key on a JIS keyboard, ` on a US one.
    "Backquote": 41,
    "Backslash": 43,
    **{f"Key{c}": 44 + i for i, c in enumerate("ZXCVBNM")},
    "Comma": 51,
    "Period": 52,
    "Slash": 53,
    "Space": 57,
    "IntlBackslash": 86,
    "IntlRo": 89,
    "IntlYen": 124,
}


def physical_keycode(code: str) -> int | None:
    """The X keycode of a character key's position on an evdev-rules server, or None."""
    evdev = _EVDEV_CODES.get(code)
    return None if evdev is None else evdev + _EVDEV_OFFSET


def uses_evdev_keycodes(display: Any) -> bool:
    """True when the server's keymap was built with the "evdev" XKB rules.

    Other rules ("base"/"xfree86" on old servers) number keys differently, and there a
    physical key is typed by the US meaning of its position instead.
    """
    root = display.screen().root
    prop = root.get_full_property(display.intern_atom("_XKB_RULES_NAMES"), X.AnyPropertyType)
    if prop is None or not prop.value:
        return False
    value = prop.value
    raw = value if isinstance(value, bytes) else str(value).encode()
    return raw.split(b"\0", 1)[0] == b"evdev"


class Keymap:
    """The core keyboard mapping with a keysym -> (keycode, level) index.

    Only the first two entries (group 1, levels 1 and 2) are indexed: the core protocol's
    other entries repeat group 1 or need AltGr/Mode_switch, which this injector never
    synthesises; a keysym found only there is bound to a spare keycode instead.
    """

    def __init__(self, first_keycode: int, rows: list[tuple[int, ...]]) -> None:
        """Build from ``GetKeyboardMapping`` rows, starting at ``first_keycode``."""
        self.first_keycode = first_keycode
        self._rows = [tuple(row) for row in rows]
        self._index: dict[int, tuple[int, int]] = {}
        self._reindex()

    def _reindex(self) -> None:
        index: dict[int, tuple[int, int]] = {}
        # Level 0 first, then lowest keycode: prefer the key that needs no Shift.
        for level in (0, 1):
            for offset, row in enumerate(self._rows):
                if level < len(row) and row[level] != X.NoSymbol:
                    index.setdefault(row[level], (self.first_keycode + offset, level))
        self._index = index

    def find(self, keysym: int) -> tuple[int, int] | None:
        """Return (keycode, level) for a keysym, level 0 unshifted and 1 shifted."""
        return self._index.get(keysym)

    def levels(self, keycode: int) -> tuple[int, int]:
        """Return the keysyms at level 0 and 1 of a keycode (NoSymbol when absent)."""
        offset = keycode - self.first_keycode
        row = self._rows[offset] if 0 <= offset < len(self._rows) else ()
        return (row[0] if row else X.NoSymbol, row[1] if len(row) > 1 else X.NoSymbol)

    def is_unbound(self, keycode: int) -> bool:
        """True when the keycode carries no keysym at all."""
        offset = keycode - self.first_keycode
        return 0 <= offset < len(self._rows) and not any(self._rows[offset])

    def unbound(self) -> list[int]:
        """Keycodes free for temporary bindings, lowest first."""
        return [
            self.first_keycode + offset
            for offset, row in enumerate(self._rows)
            if self.first_keycode + offset >= _FIRST_SPARE_KEYCODE and not any(row)
        ]

    def bind(self, keycode: int, keysym: int) -> None:
        """Record a binding this injector made on the server."""
        self._rows[keycode - self.first_keycode] = (keysym, keysym)
        self._reindex()


def is_alphabetic(lower: int, upper: int) -> bool:
    low, up = keysym_to_char(lower), keysym_to_char(upper)
    return low is not None and up is not None and low != up and low.upper() == up
