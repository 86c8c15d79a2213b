"""Schema of the `input` data channel: browser -> host keyboard and pointer events.

Sans-I/O: ``parse_input`` turns one data-channel message into a typed event or raises
``InvalidInput``; nothing here touches the display. The browser side is
``web_client/core/input.js``; keep the two in step.

Wire form (one compact JSON object per message, at most ``MAX_INPUT_BYTES``)::

    {"t":"move","x":640,"y":360}
    {"t":"down","b":0,"x":640,"y":360}        b = MouseEvent.button: 0 left, 1 middle, 2 right
    {"t":"up","b":0,"x":640,"y":360}
    {"t":"wheel","dx":0,"dy":-1,"x":640,"y":360}   dx/dy in wheel notches, -10..10
    {"t":"key","code":"KeyA","key":"a","down":true}
    {"t":"release"}                           release every held key and button (focus lost)
    {"t":"text","s":"患者"}                    committed text from the viewer's own input field

A ``text`` message follows ``mamori_protocol.text_input`` (NFC, at most 64 characters, no
control characters); one that breaks those rules raises ``RefusedText``.

Coordinates are host screen pixels; the agent refuses what lies outside the screen rather
than clamping it, so a confused client is visible in the counters, not in stray clicks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from host_agent.errors import InvalidInput
from mamori_protocol.text_input import TextRefused, normalize_text

# The largest valid message is a text message: 64 code points of up to 4 bytes of UTF-8
# (~270 bytes), with room for escaped quotes; a key event is ~90 bytes.
MAX_INPUT_BYTES: Final = 512
MAX_WHEEL_STEPS: Final = 10
MAX_BUTTON: Final = 4

# KeyboardEvent.code values are ASCII identifiers ("KeyA", "Lang1", "IntlYen").
_CODE = re.compile(r"[A-Za-z0-9]{0,32}")


class OversizedInput(InvalidInput):
    """Larger than any input message can be: not a slip of the client, an attempt."""


class RefusedText(InvalidInput):
    """A well-formed ``text`` message whose text breaks ``mamori_protocol.text_input``'s
    rules (too long, a control character): refused and reported, never typed."""


class ForeignInput(InvalidInput):
    """Not an input message at all (binary, not JSON, or a type the schema does not have,
    such as ``clipboard`` or ``file``): an attempt to use the channel for something else."""


@dataclass(frozen=True, slots=True)
class PointerMove:
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class PointerButton:
    button: int
    pressed: bool
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Wheel:
    dx: int
    dy: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Key:
    """``code`` is the physical key (KeyboardEvent.code), ``key`` the produced value."""

    code: str
    key: str
    pressed: bool


@dataclass(frozen=True, slots=True)
class ReleaseAll:
    """The viewer lost focus: nothing may stay pressed on the host."""


@dataclass(frozen=True, slots=True)
class Text:
    """Committed text (NFC, 1..64 characters, no controls) to type as it is."""

    text: str


InputEvent = PointerMove | PointerButton | Wheel | Key | ReleaseAll | Text

_FIELDS: Final[dict[str, frozenset[str]]] = {
    "move": frozenset({"t", "x", "y"}),
    "down": frozenset({"t", "b", "x", "y"}),
    "up": frozenset({"t", "b", "x", "y"}),
    "wheel": frozenset({"t", "dx", "dy", "x", "y"}),
    "key": frozenset({"t", "code", "key", "down"}),
    "release": frozenset({"t"}),
    "text": frozenset({"t", "s"}),
}


def parse_input(raw: str | bytes, width: int, height: int) -> InputEvent:
    """Validate one `input` channel message against the screen size.

    Raises:
        InvalidInput: too big, not JSON, unknown type, wrong fields or values out of range
            (``RefusedText`` for text that breaks the text rules).
    """
    if isinstance(raw, bytes):
        raise ForeignInput("binary input messages are not accepted")
    if len(raw) > MAX_INPUT_BYTES or len(raw.encode()) > MAX_INPUT_BYTES:
        raise OversizedInput(f"input message larger than {MAX_INPUT_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ForeignInput("input message is not JSON") from exc
    if not isinstance(data, dict):
        raise ForeignInput("input message must be an object")
    kind = data.get("t")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise ForeignInput("unknown input message type")
    if set(data) != _FIELDS[kind]:
        raise InvalidInput(f"{kind}: fields must be exactly {sorted(_FIELDS[kind])}")
    if kind == "release":
        return ReleaseAll()
    if kind == "text":
        try:
            return Text(normalize_text(data["s"]))
        except TextRefused as exc:
            raise RefusedText(str(exc)) from exc
    if kind == "key":
        return Key(code=_code(data["code"]), key=_key(data["key"]), pressed=_bool(data["down"]))
    x = _int(data, "x", 0, width - 1)
    y = _int(data, "y", 0, height - 1)
    if kind == "move":
        return PointerMove(x, y)
    if kind == "wheel":
        dx = _int(data, "dx", -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)
        dy = _int(data, "dy", -MAX_WHEEL_STEPS, MAX_WHEEL_STEPS)
        return Wheel(dx, dy, x, y)
    return PointerButton(_int(data, "b", 0, MAX_BUTTON), kind == "down", x, y)


def _int(data: dict[str, Any], name: str, low: int, high: int) -> int:
    value = data[name]
    # JSON true is an int in Python; it must not pass as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be {low}..{high}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("down must be true or false")
    return value


def _code(value: object) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise InvalidInput("code must be a KeyboardEvent.code identifier")
    return value


def _key(value: object) -> str:
    # A KeyboardEvent.key is one character (possibly a surrogate pair or a combining
    # sequence) or a named key such as "Enter" or "Convert".
    if not isinstance(value, str) or not 1 <= len(value) <= 32:
        raise InvalidInput("key must be 1..32 characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidInput("key contains control characters")
    return value
