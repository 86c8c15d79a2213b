"""How many FEC packets a group of media packets gets, from the measured loss (pure).

Parity costs bitrate on every frame to save a round trip on the few that lose a packet;
NACK/RTX already repairs everything within the history's horizon. So:

- **None below ``MIN_LOSS``** (2 %): at 1 % loss it gained nothing measurable (VP8, two
  runs: new pictures 32.5 / 34.8 against 34.6 / 34.5 a second, p90 80 / 77 against 87 / 80
  ms) for 21-44 % more bits, since a frame of one or two packets still gets a whole parity
  packet; at 5 % and 10 % it pays (README, networks issue, "FEC").
- **Proportional above**: ``DELTA_FACTOR`` x the loss for an ordinary frame, bounded by
  ``MAX_DELTA_SHARE``; a parity packet repairs one loss of its set, so a share a few times
  the loss leaves few sets with two losses.
- **More on large groups** (keyframes, the refinement pass, a scroll's burst: at least
  ``LARGE_GROUP`` packets): ``LARGE_FACTOR`` x the loss, bounded by ``MAX_LARGE_SHARE``. A
  large frame lost and NACKed holds the picture for a round trip, and an unrepaired one
  costs a keyframe, the largest burst of all.
- **Bounded** in any case: FEC packets count against the congestion controller's budget
  (the pacer sends them; the encoder's target is cut by ``overhead``).
"""

from __future__ import annotations

import math
from typing import Final

MIN_LOSS: Final = 0.02
DELTA_FACTOR: Final = 2.0
LARGE_FACTOR: Final = 4.0
MAX_DELTA_SHARE: Final = 0.3
MAX_LARGE_SHARE: Final = 0.5
LARGE_GROUP: Final = 20


def fec_count(group: int, loss: float, enabled: bool = True) -> int:
    """FEC packets for a group of ``group`` media packets at loss fraction ``loss``."""
    if not enabled or group <= 0 or loss < MIN_LOSS:
        return 0
    if group >= LARGE_GROUP:
        share = min(MAX_LARGE_SHARE, LARGE_FACTOR * loss)
    else:
        share = min(MAX_DELTA_SHARE, DELTA_FACTOR * loss)
    return min(group, math.ceil(group * share))


class Overhead:
    """FEC's share of the bytes sent lately (an exponential average per packet), which
    the encoder's target leaves to the parity."""

    def __init__(self, weight: float = 0.01) -> None:
        self._weight = weight
        self.share = 0.0

    def add(self, size: int, fec: bool) -> None:
        # Weighted by size: a 1200-byte parity counts as much as a 1200-byte media packet.
        weight = self._weight * min(1.0, size / 1200)
        self.share += weight * ((1.0 if fec else 0.0) - self.share)
