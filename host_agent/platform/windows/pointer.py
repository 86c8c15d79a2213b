"""DXGI pointer shapes -> the straight-alpha RGBA the viewer draws (``video/cursor.py``).

Desktop Duplication delivers the cursor beside the picture, never in it (the desktop image
has no cursor), as one of three kinds (``DXGI_OUTDUPL_POINTER_SHAPE_TYPE``):

- MONOCHROME: 1 bit per pixel, an AND mask over an XOR mask (so ``height`` is twice the
  cursor's). AND 0 / XOR 0 is black, AND 0 / XOR 1 white, AND 1 / XOR 0 transparent, and
  AND 1 / XOR 1 inverts the screen under it.
- COLOR: 32-bit BGRA with an alpha channel, drawn as straight alpha (as the Microsoft
  Desktop Duplication sample blends it).
- MASKED_COLOR: 32-bit BGRA whose alpha byte is a mask: 0 means "replace with RGB", 0xFF
  means "XOR RGB with the screen" (RGB 0 then leaves the screen as it is).

A browser canvas cannot invert what lies under it, so screen-inverting pixels (the text
I-beam is one) are drawn opaque black, which reads right on the light screens of an EHR
and is what several remote desktops do. Pure: the tests feed it hand-made masks; what real
Windows cursors look like through this is on the README's check-list.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from host_agent.platform.windows.win32 import (
    POINTER_COLOR,
    POINTER_MASKED_COLOR,
    POINTER_MONOCHROME,
    PointerShape,
)

RGBA = npt.NDArray[np.uint8]


def shape_rgba(shape: PointerShape) -> RGBA:
    """The cursor as a (height, width, 4) straight-alpha RGBA array.

    Raises:
        ValueError: an unknown kind, or a buffer shorter than its size says.
    """
    width, height, pitch = shape.width, shape.height, shape.pitch
    if width < 1 or height < 1:
        raise ValueError("empty pointer shape")
    if shape.kind == POINTER_MONOCHROME:
        return _monochrome(shape.data, width, height // 2, pitch)
    if shape.kind not in (POINTER_COLOR, POINTER_MASKED_COLOR):
        raise ValueError(f"unknown pointer shape type {shape.kind}")
    if pitch < width * 4 or len(shape.data) < pitch * height:
        raise ValueError("pointer shape buffer shorter than its size")
    rows = np.frombuffer(shape.data, np.uint8, pitch * height).reshape(height, pitch)
    bgra = rows[:, : width * 4].reshape(height, width, 4)
    rgba = bgra[..., [2, 1, 0, 3]].copy()
    if shape.kind == POINTER_COLOR:
        return rgba
    mask = bgra[..., 3]
    has_colour = bgra[..., :3].any(axis=-1)
    rgba[..., 3] = np.where(mask == 0, 255, np.where(has_colour, 255, 0))
    # XOR with a colour: inverting, drawn black (see the module docstring).
    rgba[(mask != 0) & has_colour, :3] = 0
    return rgba


def _monochrome(data: bytes, width: int, height: int, pitch: int) -> RGBA:
    if height < 1 or pitch * 8 < width or len(data) < pitch * height * 2:
        raise ValueError("pointer shape buffer shorter than its size")
    rows = np.frombuffer(data, np.uint8, pitch * height * 2).reshape(height * 2, pitch)
    bits = np.unpackbits(rows, axis=1)[:, :width].astype(bool)  # most significant bit first
    and_mask, xor_mask = bits[:height], bits[height:]
    rgba = np.zeros((height, width, 4), np.uint8)
    white = ~and_mask & xor_mask
    rgba[white, :3] = 255
    rgba[..., 3] = np.where(and_mask & ~xor_mask, 0, 255)  # transparent only for AND 1, XOR 0
    return rgba
