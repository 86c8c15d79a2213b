"""How far x264 searches for motion, chosen per frame from the scroll the capture found
(its larger of |dx| and |dy|: a sideways pan counts as a scroll does).

ultrafast's diamond search (``me=dia``, range 16) costs almost nothing and follows small
moves, but not a page scrolled by tens of rows between two frames: those frames become near
intra and large (``scroll.py`` says why that collapses the frame rate). An uneven
multi-hexagon search (``umh``) with a range a little beyond the shift finds the move; it costs
more per macroblock, so it is used only while large motion is seen, and kept a few frames
after the last sighting so a frame the detector misses (a scroll mixed with other drawing) does
not fall back mid-scroll. Ranges are few fixed steps so x264 is reconfigured rarely.

x264 can change ``me`` and ``merange`` on an open encoder (``x264_encoder_reconfig``), so
this never costs a keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# What ultrafast does by itself: enough for a shift this small.
SMALL_SHIFT: Final = 8
# Search ranges used for larger shifts (rows); a shift beyond the last is searched with it
# anyway (the vector predicted from neighbours still helps).
RANGES: Final = (32, 64, 128)
# Frames the wide search stays after the last large shift was seen.
HOLD_FRAMES: Final = 8


@dataclass(frozen=True)
class Search:
    """x264's ``me`` and ``merange``."""

    method: str
    merange: int


DEFAULT: Final = Search("dia", 16)


def within_reach(shift: int) -> bool:
    """Whether the widest search follows a move of ``shift`` rows (or columns)."""
    return abs(shift) + 8 <= RANGES[-1]


def search_for(shift: int) -> Search:
    """The search that follows a move of ``shift`` rows between two frames."""
    size = abs(shift)
    if size <= SMALL_SHIFT:
        return DEFAULT
    for merange in RANGES:
        # A margin beyond the shift: the search starts from predicted vectors, not from it.
        if size + 8 <= merange:  # as within_reach
            return Search("umh", merange)
    return Search("umh", RANGES[-1])


class MotionSearchPolicy:
    """Per frame: the search to use, given the shift just seen (0 if none)."""

    def __init__(self) -> None:
        self.current = DEFAULT
        self._hold = 0

    def next(self, shift: int) -> Search:
        wanted = search_for(shift)
        if wanted != DEFAULT:
            if self.current == DEFAULT or wanted.merange > self.current.merange:
                self.current = wanted
            self._hold = HOLD_FRAMES
        elif self._hold > 0:
            self._hold -= 1
        else:
            self.current = DEFAULT
        return self.current
