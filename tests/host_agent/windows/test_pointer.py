"""DXGI pointer shapes -> straight RGBA (host_agent.platform.windows.pointer)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from host_agent.platform.windows import win32
from host_agent.platform.windows.pointer import shape_rgba
from host_agent.platform.windows.win32 import PointerShape
from host_agent.video.cursor import rgba_shape_message

pytestmark = pytest.mark.unit


def test_color_pointer_is_bgra_with_straight_alpha() -> None:
    """COLOR: BGRA rows (padded to the pitch) become RGBA, alpha kept."""
    rows = bytes([10, 20, 30, 255, 0, 0, 0, 0, 9, 9]) + bytes([1, 2, 3, 128, 4, 5, 6, 64, 9, 9])
    shape = PointerShape(win32.POINTER_COLOR, 2, 2, 10, 0, 0, rows)
    rgba = shape_rgba(shape)
    assert rgba.tolist() == [[[30, 20, 10, 255], [0, 0, 0, 0]], [[3, 2, 1, 128], [6, 5, 4, 64]]]


def test_masked_color_pointer() -> None:
    """MASKED_COLOR: mask 0 is opaque colour, mask 0xFF with black is transparent, mask 0xFF
    with a colour (XOR) is drawn opaque black."""
    data = bytes([10, 20, 30, 0, 0, 0, 0, 0xFF, 50, 50, 50, 0xFF])
    rgba = shape_rgba(PointerShape(win32.POINTER_MASKED_COLOR, 3, 1, 12, 0, 0, data))
    assert rgba.tolist() == [[[30, 20, 10, 255], [0, 0, 0, 0], [0, 0, 0, 255]]]


def test_short_or_unknown_shapes_are_refused() -> None:
    """A buffer shorter than its size, or an unknown type, is an error, not garbage."""
    with pytest.raises(ValueError, match="shorter"):
        shape_rgba(PointerShape(win32.POINTER_COLOR, 4, 4, 16, 0, 0, bytes(10)))
    with pytest.raises(ValueError, match="shorter"):
        shape_rgba(PointerShape(win32.POINTER_MONOCHROME, 32, 64, 4, 0, 0, bytes(10)))
    with pytest.raises(ValueError, match="unknown"):
        shape_rgba(PointerShape(8, 1, 1, 4, 0, 0, bytes(4)))


def test_a_windows_shape_becomes_the_viewers_message() -> None:
    """The RGBA goes out in the same closed shape message as X11's, cropped to 64x64."""
    shape = PointerShape(win32.POINTER_COLOR, 96, 96, 96 * 4, 80, 2, bytes(96 * 96 * 4))
    data = json.loads(rgba_shape_message(3, shape_rgba(shape), shape.hot_x, shape.hot_y))
    assert (data["t"], data["w"], data["h"], data["hx"], data["hy"]) == ("shape", 64, 64, 48, 2)
    assert len(base64.b64decode(data["rgba"])) == 64 * 64 * 4
    assert np.frombuffer(base64.b64decode(data["rgba"]), np.uint8).max() == 0
