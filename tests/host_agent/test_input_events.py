"""The `input` channel schema: what the agent accepts and what it drops."""

from __future__ import annotations

import json

import pytest

from host_agent.errors import InvalidInput
from host_agent.input.events import Key, PointerButton, PointerMove, ReleaseAll, Wheel, parse_input

pytestmark = pytest.mark.unit


def parse(**fields: object) -> object:
    return parse_input(json.dumps(fields), 1280, 720)


def test_valid_events_parse() -> None:
    """Each message type parses to its event."""
    assert parse(t="move", x=0, y=719) == PointerMove(0, 719)
    assert parse(t="down", b=2, x=5, y=6) == PointerButton(2, True, 5, 6)
    assert parse(t="up", b=0, x=5, y=6) == PointerButton(0, False, 5, 6)
    assert parse(t="wheel", dx=0, dy=-3, x=1, y=1) == Wheel(0, -3, 1, 1)
    assert parse(t="key", code="Convert", key="Convert", down=True) == Key(
        "Convert", "Convert", True
    )
    assert parse(t="key", code="KeyA", key="あ", down=False) == Key("KeyA", "あ", False)
    assert parse(t="release") == ReleaseAll()


@pytest.mark.parametrize(
    "fields",
    [
        {"t": "move", "x": 1280, "y": 0},
        {"t": "move", "x": -1, "y": 0},
        {"t": "move", "x": 1.5, "y": 0},
        {"t": "move", "x": True, "y": 0},
        {"t": "move", "x": 1, "y": 1, "extra": 1},
        {"t": "move", "x": 1},
        {"t": "down", "b": 5, "x": 1, "y": 1},
        {"t": "wheel", "dx": 0, "dy": 11, "x": 1, "y": 1},
        {"t": "key", "code": "KeyA", "key": "a", "down": 1},
        {"t": "key", "code": "Key A", "key": "a", "down": True},
        {"t": "key", "code": "KeyA", "key": "", "down": True},
        {"t": "key", "code": "KeyA", "key": "\x03", "down": True},
        {"t": "clipboard", "text": "secret"},
        {"t": "paste", "text": "secret"},
        {"x": 1, "y": 1},
    ],
)
def test_invalid_events_are_refused(fields: dict[str, object]) -> None:
    """Out-of-screen, ill-typed, unknown or extra-field messages raise InvalidInput."""
    with pytest.raises(InvalidInput):
        parse_input(json.dumps(fields), 1280, 720)


@pytest.mark.parametrize("raw", [b'{"t":"release"}', "[]", "nope", "x" * 600])
def test_non_objects_binary_and_oversized_are_refused(raw: str | bytes) -> None:
    """Binary frames, non-objects, non-JSON and messages over 512 bytes are refused."""
    with pytest.raises(InvalidInput):
        parse_input(raw, 1280, 720)
