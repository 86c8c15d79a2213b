"""How long each 128-px block must stay quiet before its lossless tile is due, sans I/O.

One fixed delay serves neither case well: an edit or a page switch (a block that changes
once after being quiet) should become exact as soon as the drawing stops, while a clock or
a progress bar (a block that changes again and again) should not cost a tile after every
tick only to have it invalidated at the next one (at 300 ms: a clock measured 0.86 kB/s).

- A block starts at ``FIRST_S``: 120 ms is longer than the gaps between the drawing steps
  of one page switch or one keystroke's repaint (a few frames, < 100 ms on the bench), so
  one change still costs one tile.
- A tile sent and then overtaken by a change of its block (wasted: the viewer drops it at
  once) doubles the block's delay, up to ``MAX_S``: a clock ticking every second stops
  costing tiles after four ticks (0.12, 0.24, 0.48, 0.96, then 1.92 s > its period).
- A block quiet for ``CALM_S`` (or twice its delay, if longer) before it changes starts
  over at ``FIRST_S``: the next page switch after reading a page is fast again.
- Unless the change is small (at most ``SMALL_TILES`` of its 64 16-px tiles: a keystroke, a
  caret) and a neighbouring block is backed off and not calm: then it starts at that
  neighbour's delay (at most ``INHERIT_MAX_S``). Typing moves from block to block; each new
  block used to start at 120 ms, shorter than the gap between two keys (~170 ms at 6 a
  second), so its first key cost a tile that the second key overtook: one wasted tile of
  marked text (~5-8 kB) for each block the typing entered (``bench/typing_bytes.py``). Now
  only the first block of a burst pays it. A page switch changes whole blocks and an
  isolated edit has no restless neighbour: both still go at 120 ms.

Changes that come before the block's tile was sent (a page still drawing, a person typing
faster than the delay) change nothing: no tile was wasted.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

FIRST_S: Final = 0.12
MAX_S: Final = 4.0
CALM_S: Final = 3.0
# A key every 0.5 s (2 a second, slow typing) still costs no tile while it goes on; a
# clock's (backed off to seconds) neighbours wait at most this long.
INHERIT_MAX_S: Final = 0.5
SMALL_TILES: Final = 16

Blocks = npt.NDArray[np.bool_]
Times = npt.NDArray[np.float64]


class SettleDelays:
    """Per block: its current settle delay and when its last tile was sent."""

    def __init__(
        self, shape: tuple[int, int], first_s: float = FIRST_S, max_s: float = MAX_S,
        calm_s: float = CALM_S,
    ) -> None:  # fmt: skip
        if not 0 <= first_s <= max_s:
            raise ValueError("need 0 <= first_s <= max_s")
        self.first_s = first_s
        self.max_s = max_s
        self.calm_s = calm_s
        self.delay: Times = np.full(shape, first_s)
        self.sent_at: Times = np.full(shape, -math.inf)
        self.backoffs = 0  # wasted tiles seen (for stats and tests)

    def changed(
        self, blocks: Blocks, before: Times, now: float, small: Blocks | None = None
    ) -> None:
        """``blocks`` changed at ``now``; ``before`` holds each block's previous change;
        ``small``: those of them whose change was small (``SMALL_TILES``)."""
        quiet = now - before
        settled = quiet >= np.maximum(self.calm_s, 2 * self.delay)
        calm = blocks & settled
        # Sent after the previous change and changed again before the calm: wasted.
        wasted = blocks & ~calm & (self.sent_at > before)
        self.delay[calm] = self.first_s
        if small is not None and (calm & small).any():
            lent = np.where(~settled & (self.delay > self.first_s), self.delay, 0.0)
            near = _neighbours_max(np.minimum(lent, max(self.first_s, INHERIT_MAX_S)))
            joined = calm & small
            self.delay[joined] = np.maximum(self.first_s, near[joined])
        self.delay[wasted] = np.minimum(self.max_s, 2 * self.delay[wasted])
        self.backoffs += int(wasted.sum())

    def sent(self, row: int, col: int, now: float) -> None:
        self.sent_at[row, col] = now


def _neighbours_max(values: Times) -> Times:
    """Per block, the largest of ``values`` among its (up to) eight neighbours."""
    rows, cols = values.shape
    padded = np.zeros((rows + 2, cols + 2))
    padded[1:-1, 1:-1] = values
    out = np.zeros_like(values)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            if (dr, dc) != (1, 1):
                np.maximum(out, padded[dr : dr + rows, dc : dc + cols], out=out)
    return out
