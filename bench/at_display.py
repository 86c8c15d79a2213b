"""When each decoded picture reached the screen: latency at display, beside after decode.

The probe (``bench/receivers/probe.js``) records decoded pictures as ``(code, wall ms, key)``
and, separately, what reached the screen:

- ours: per frame the ``<video>`` presented, requestVideoFrameCallback metadata
  ``(mediaTime µs, expectedDisplayTime, presentationTime, callback time)``; the key of a
  decoded picture is its VideoFrame timestamp, the same media::VideoFrame's mediaTime;
- noVNC: per animation frame after a canvas flip, ``(flips so far, frame time, callback
  time)``; the key of a decoded picture is its flip's sequence number (1-based).

All times are wall ms (the probe's corrected performance clock), so the glass's paint log
(``metrics.read_paints``) and ``metrics.latencies_ms`` turn the pairs returned here into
glass-to-display latencies. Pure functions, unit-tested without a browser.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Final

from bench import metrics

# Columns of a presented-frame row (ours).
EXPECTED: Final = 1  # expectedDisplayTime: when the compositor expects the frame visible
PRESENTED: Final = 2  # presentationTime: when the frame was handed to the compositor
CALLBACK: Final = 3  # the rVFC callback's own time: the rendering update showing it
COLUMNS: Final = {EXPECTED: "expected", PRESENTED: "presented", CALLBACK: "callback"}
# Columns of an animation-frame row (noVNC).
FRAME_TIME: Final = 1  # the requestAnimationFrame callback's argument
FRAME_RAN: Final = 2  # performance.now() when that callback ran (never before the flip)

Shown = list[tuple[int, float]]  # (code, wall ms at display), in display order


def ours_shown(
    decoded: Sequence[Sequence[float]], presented: Sequence[Sequence[float]], column: int
) -> Shown:
    """(code, display time) of each decoded picture the ``<video>`` presented.

    ``column`` picks the display time (EXPECTED, PRESENTED or CALLBACK). A frame reported
    twice counts at its first presentation; a picture never presented (dropped before the
    compositor) is not shown at all.
    """
    at: dict[int, float] = {}
    for row in presented:
        at.setdefault(round(row[0]), float(row[column]))
    shown = [(int(code), at[round(key)]) for code, _, key in decoded if round(key) in at]
    return sorted(shown, key=lambda pair: pair[1])


def novnc_shown(
    decoded: Sequence[Sequence[float]], frames: Sequence[Sequence[float]], column: int
) -> Shown:
    """(code, time) of each flipped picture at the first animation frame whose flip count
    reached the picture's flip number (its canvas was painted in that frame). ``column``:
    FRAME_TIME, the frame's own time (like rVFC's callback time; it can lie before the flip
    when the frame began while the flip's task ran), or FRAME_RAN, when the callback ran."""
    ordered = sorted(frames, key=lambda row: row[0])
    counts = [row[0] for row in ordered]
    shown: Shown = []
    for code, _, flip in decoded:
        i = bisect.bisect_left(counts, flip)
        if i < len(ordered):
            shown.append((int(code), float(ordered[i][column])))
    return sorted(shown, key=lambda pair: pair[1])


def ours_lead_ms(
    decoded: Sequence[Sequence[float]], presented: Sequence[Sequence[float]]
) -> dict[int, dict[str, float | int | None]]:
    """Per display-time column: the median of (display - decode) over presented pictures,
    how many of them lie before their decode (an implausible timing), and how many there
    are. A check on the browser's timing, not a latency."""
    by_key = {round(key): at for _, at, key in decoded}
    out: dict[int, dict[str, float | int | None]] = {}
    for column in COLUMNS:
        seen: set[int] = set()
        leads: list[float] = []
        for row in presented:
            key = round(row[0])
            if key in seen or key not in by_key:
                continue
            seen.add(key)
            leads.append(float(row[column]) - by_key[key])
        out[column] = {
            "median": metrics.median(leads),
            "before_decode": sum(1 for lead in leads if lead < 0),
            "shown": len(leads),
        }
    return out


def key_seen(changes: Sequence[Sequence[float]], t0: float) -> tuple[float, float] | None:
    """(ms to the rVFC callback, ms to expectedDisplayTime) of the first changed frame whose
    callback came after a key pressed at ``t0`` (bench/input_latency.py; page clock), or
    None if none did."""
    for callback, expected in changes:
        if callback > t0:
            return callback - t0, expected - t0
    return None
