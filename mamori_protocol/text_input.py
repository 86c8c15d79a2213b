"""Viewer-side text: the rules of the `text` input message, shared by agent and viewer.

Some devices produce text, not keys: a tablet's soft keyboard, or the viewer's own IME
composing Japanese in the browser. The viewer then sends what the person committed in its
own input field as ``{"t":"text","s":"患者"}`` on the `input` channel, and the agent types
it with the platform's Unicode input. So that this can never become a paste channel
(MHLW.md row 3: nothing but keyboard and pointer events goes in):

- at most ``MAX_TEXT_CHARS`` code points per message, after NFC, which is about what one
  IME commit or one soft-keyboard word gives; the viewer splits longer commits;
- at most ``TEXT_RATE_PER_S`` messages a second per session (``TEXT_BURST`` at once): a
  person commits a few words a second, a paste script thousands of characters;
- no control characters at all: newline and tab travel as the Enter and Tab keys, so a
  text message cannot submit a form or move focus by itself;
- the clinic chooses with ``TextEntry`` whether viewer text is allowed at all.

Sans-I/O and stdlib only. ``web_client/core/text_entry.js`` mirrors these rules.
"""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import Final

MAX_TEXT_CHARS: Final = 64
TEXT_RATE_PER_S: Final = 20.0
TEXT_BURST: Final = 20.0
# Unicode categories refused in text: controls (newline and tab included: they are keys),
# lone surrogates, and unassigned code points (nothing a keyboard or IME produces).
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cs", "Cn"})


class TextEntry(Enum):
    """How a clinic lets people write on the host (the console's settings page).

    ``HOST_IME``: only keys go in, the host's own IME composes (the default: nothing new).
    ``VIEWER_TEXT``: the viewer composes and sends text; keys still go in.
    ``BOTH``: either, as the person prefers.
    """

    HOST_IME = "host_ime"
    VIEWER_TEXT = "viewer_text"
    BOTH = "both"

    @property
    def allows_text(self) -> bool:
        """True if `text` messages may be typed on the host."""
        return self is not TextEntry.HOST_IME


class TextRefused(ValueError):
    """A `text` message that breaks the rules above; the message says which."""


def normalize_text(value: object) -> str:
    """Return ``value`` in NFC if it is text the agent may type.

    Raises:
        TextRefused: not a string, empty, longer than ``MAX_TEXT_CHARS`` after NFC, or
            holding a control, surrogate or unassigned code point.
    """
    if not isinstance(value, str):
        raise TextRefused("text must be a string")
    # Checked before normalising too, so a huge string costs nothing to refuse.
    if len(value) > 4 * MAX_TEXT_CHARS:
        raise TextRefused(f"text longer than {MAX_TEXT_CHARS} characters")
    text = unicodedata.normalize("NFC", value)
    if not 1 <= len(text) <= MAX_TEXT_CHARS:
        raise TextRefused(f"text must be 1..{MAX_TEXT_CHARS} characters")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in text):
        raise TextRefused("text holds a control character (newline and tab are keys)")
    return text
