"""The machine-readable frame code the glass paints and the receivers read back.

Two rows of ``BITS`` square blocks at the top-left corner of the screen. Row 0 holds the Gray
code of the frame counter (most significant bit on the left, black = 1); row 1 holds its
complement. Gray code changes one bit per step, so the glass repaints exactly two blocks per
frame (one in each row) with a single X request; a receiver that finds a block pair that is
not complementary has read a damaged picture and drops it instead of guessing.

Blocks are 16 px and aligned to 16 px, the H.264 macroblock grid, so a counter step costs one
macroblock per row for a video encoder and one small rectangle for VNC: the code itself should
not dominate what is measured. ``bench/receivers/probe.js`` decodes the same layout in the
browser; keep the two in step.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

BITS: Final = 16
BLOCK: Final = 16
WIDTH: Final = BITS * BLOCK
HEIGHT: Final = 2 * BLOCK
MODULUS: Final = 1 << BITS
# Luma (or grey) above this is white. Codecs ring around block edges, so only the centre of
# each block is read.
THRESHOLD: Final = 128


def gray(n: int) -> int:
    """The Gray code of ``n`` modulo 2**BITS."""
    n %= MODULUS
    return n ^ (n >> 1)


def from_gray(g: int) -> int:
    """The counter (mod 2**BITS) whose Gray code is ``g``."""
    n = 0
    while g:
        n ^= g
        g >>= 1
    return n


def bits_of(n: int) -> list[int]:
    """Row-0 bits of counter ``n``, left to right (1 = black)."""
    g = gray(n)
    return [(g >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def changed_bit(n: int) -> int:
    """The block index (0 = leftmost) that differs between counters ``n - 1`` and ``n``."""
    diff = gray(n) ^ gray(n - 1)
    return BITS - diff.bit_length()


def decode(luma: npt.NDArray[np.uint8]) -> int | None:
    """Read the counter from a (HEIGHT, WIDTH) luma or grey array; None if damaged.

    Each block is judged by the mean of its central 4x4 pixels.
    """
    if luma.shape[0] < HEIGHT or luma.shape[1] < WIDTH:
        raise ValueError(f"need at least {HEIGHT}x{WIDTH} pixels")
    c = BLOCK // 2
    value = 0
    for i in range(BITS):
        x = i * BLOCK + c
        top = float(luma[c - 2 : c + 2, x - 2 : x + 2].mean())
        bottom = float(luma[BLOCK + c - 2 : BLOCK + c + 2, x - 2 : x + 2].mean())
        bit_top = top < THRESHOLD
        bit_bottom = bottom < THRESHOLD
        if bit_top == bit_bottom:
            return None  # not complementary: a torn or badly decoded picture
        value = (value << 1) | int(bit_top)
    return from_gray(value)
