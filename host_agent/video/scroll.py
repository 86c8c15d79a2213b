"""Scrolls and sideways pans found on the capture side: which band moved, and by how much.

Why: x264 ultrafast searches motion with a small diamond (``me=dia``, range 16). A page
scrolled faster than that per frame is coded almost as intra, the frame is large, the byte
budget delays the next one, the motion per frame grows further and the frame rate collapses
(measured: ~4 fps at 400 px/s). Knowing that a band moved by ``dy`` rows lets the encoder
widen its search only while that is so (``motion_search.py``), and lets the watermark move
with the band (``watermark.py``), so the marked pixels are a plain translation too.

The test is exact, like DXGI's move rectangles: rows of the changed band are reduced to a
64-bit signature (over the changed columns only, so a scrolled pane beside a static sidebar
still matches), each changed row of the new picture votes for the shift that finds its
signature in the old picture, and the winning shift is accepted only if enough rows agree.
Rows whose signature is common (blank lines, rules) do not vote. Pure numpy, no I/O.

A sideways pan (a photo or radiograph dragged in its viewer) is found the same way over the
band's columns, tried only when no vertical move is (a mark that does not follow a pan cost
2.1-2.9x the bitrate of the same pan unmarked, a radiograph 8.8-9.1x), or first while a
pan goes on (``columns_first``, the caller's memory of its last move). It costs ~2 ms more
on a 720p frame that changed but is no vertical scroll (a pan, a page switch). Diagonal
moves are not found (neither rows nor columns match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# A band lower than this is a line of text being edited, not a scroll.
MIN_BAND_ROWS: Final = 24
# At least this many distinct rows must vote for the winning shift ...
MIN_VOTES: Final = 8
# ... and at least this share of the rows that could vote (those with a rare signature).
MIN_VOTE_SHARE: Final = 0.3
# A signature seen more often than this in the old band is not informative (blank rows).
MAX_SIGNATURE_REPEATS: Final = 2  # _vote relies on it being 2

MAX_COLS: Final = 8192
WEIGHT_BITS: Final = 16
_RNG = np.random.default_rng(0x5C2011)
_WEIGHTS: Final = _RNG.integers(1, 2**WEIGHT_BITS, size=(MAX_COLS, 2)).astype(np.float64)
CHUNK_ROWS: Final = 64
_FOLD: Final = np.uint64(0x9E3779B97F4A7C15)

BGRA = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Scroll:
    """Content inside (x, y, w, h) moved down by ``dy`` rows (negative: up, as when a page
    is scrolled towards its end): ``new[r] == old[r - dy]`` for the band's rows whose source
    lies in the band; or, for a sideways pan (``dy`` 0), right by ``dx`` columns:
    ``new[:, c] == old[:, c - dx]``. ``matched_rows`` counts the rows (for a pan, columns)
    found moved. Coordinates are those of the arrays compared."""

    x: int
    y: int
    w: int
    h: int
    dy: int
    matched_rows: int
    dx: int = 0

    @property
    def size(self) -> int:
        """How far the content moved, either way (what the motion search must reach)."""
        return max(abs(self.dx), abs(self.dy))


def row_signatures(pixels: BGRA) -> npt.NDArray[np.uint64]:
    """One signature per row of a (rows, cols, 4) BGRA array: two dot products of the
    rows' 24-bit colours with random integer weights, in float64.

    Every partial sum stays below 2**53 (a colour < 2**24, a weight < 2**WEIGHT_BITS, at most
    MAX_COLS columns), so the arithmetic is exact and two equal rows get equal signatures
    whatever order the matrix product sums in; two different rows collide with a chance
    of about 2**-(2 * WEIGHT_BITS). A BLAS product is several times faster than integer
    hashing in numpy. The two sums' bits are folded into one 64-bit value.
    """
    rows, cols = pixels.shape[:2]
    if cols > MAX_COLS:
        raise ValueError(f"rows wider than {MAX_COLS} pixels")
    words = np.ascontiguousarray(pixels).view(np.uint32)[..., 0]
    weights = _WEIGHTS[:cols]
    product = np.empty((rows, 2), dtype=np.float64)
    # In chunks: one large product makes OpenBLAS start threads, ~10x slower on a busy
    # 2-core machine (measured 11 ms against 1.4 ms at 1280x720).
    for top in range(0, rows, CHUNK_ROWS):
        colours = words[top : top + CHUNK_ROWS] & np.uint32(0xFFFFFF)
        product[top : top + CHUNK_ROWS] = colours.astype(np.float64) @ weights
    return _fold(product)


def column_signatures(pixels: BGRA) -> npt.NDArray[np.uint64]:
    """One signature per column of a (rows, cols, 4) BGRA array, as ``row_signatures``
    gives rows (the random weights indexed by row): a column-wise product, summed over
    chunks of rows, so the array is never transposed (a copy of the band) and each product
    stays too small for OpenBLAS to start threads. Partial sums are exact integers, so the
    chunked sum is too."""
    rows, cols = pixels.shape[:2]
    if rows > MAX_COLS:
        raise ValueError(f"columns taller than {MAX_COLS} pixels")
    words = np.ascontiguousarray(pixels).view(np.uint32)[..., 0]
    product = np.zeros((cols, 2), dtype=np.float64)
    for top in range(0, rows, CHUNK_ROWS):
        colours = words[top : top + CHUNK_ROWS] & np.uint32(0xFFFFFF)
        product += colours.astype(np.float64).T @ _WEIGHTS[top : top + colours.shape[0]]
    return _fold(product)


def _fold(product: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    first = np.ascontiguousarray(product[:, 0]).view(np.uint64)
    second = np.ascontiguousarray(product[:, 1]).view(np.uint64)
    with np.errstate(over="ignore"):
        folded: npt.NDArray[np.uint64] = (first * _FOLD) ^ second
    return folded


def changed_pixels(old: BGRA, new: BGRA) -> npt.NDArray[np.bool_]:
    """(rows, cols): which pixels of two same-shape BGRA pictures differ."""
    if old.shape != new.shape:
        raise ValueError(f"shapes differ: {old.shape} vs {new.shape}")
    diff: npt.NDArray[np.bool_] = old.view(np.uint32)[..., 0] != new.view(np.uint32)[..., 0]
    return diff


def detect_scroll(
    old: BGRA,
    new: BGRA,
    max_shift: int | None = None,
    diff: npt.NDArray[np.bool_] | None = None,
    columns_first: bool = False,
) -> Scroll | None:
    """The vertical move between two same-shape BGRA pictures, else their horizontal one,
    or None if there is neither.

    Args:
        old: the picture before (rows, cols, 4).
        new: the picture now.
        max_shift: the largest |dy| or |dx| considered (default: half the changed band).
        diff: ``changed_pixels(old, new)`` if the caller has it already.
        columns_first: try the horizontal move first (a pan is under way: the rows' vote,
            which a pan always fails, cost ~4 ms of a 1080p frame's signatures).
    """
    if diff is None:
        diff = changed_pixels(old, new)
    elif old.shape != new.shape or diff.shape != old.shape[:2]:
        raise ValueError(f"shapes differ: {old.shape}, {new.shape}, {diff.shape}")
    changed_rows = np.flatnonzero(diff.any(axis=1))
    if not changed_rows.size:
        return None
    changed_cols = np.flatnonzero(diff.any(axis=0))
    top, bottom = int(changed_rows[0]), int(changed_rows[-1]) + 1
    left, right = int(changed_cols[0]), int(changed_cols[-1]) + 1
    if right - left > MAX_COLS or bottom - top > MAX_COLS:
        return None
    band_old, band_new = old[top:bottom, left:right], new[top:bottom, left:right]

    def vertical() -> Scroll | None:
        if changed_rows.size < MIN_BAND_ROWS or bottom - top < MIN_BAND_ROWS:
            return None
        limit = (bottom - top) // 2 if max_shift is None else max_shift
        found = _moved(row_signatures(band_old), row_signatures(band_new), limit)
        if found is None:
            return None
        dy, first, last, hits = found
        return Scroll(left, top + first, right - left, last - first, dy, hits)

    def sideways() -> Scroll | None:
        if changed_cols.size < MIN_BAND_ROWS or right - left < MIN_BAND_ROWS:
            return None
        limit = (right - left) // 2 if max_shift is None else max_shift
        found = _moved(column_signatures(band_old), column_signatures(band_new), limit)
        if found is None:
            return None
        dx, first, last, hits = found
        return Scroll(left + first, top, last - first, bottom - top, 0, hits, dx)

    first_try, then = (sideways, vertical) if columns_first else (vertical, sideways)
    return first_try() or then()


def _moved(
    old_sig: npt.NDArray[np.uint64], new_sig: npt.NDArray[np.uint64], limit: int
) -> tuple[int, int, int, int] | None:
    """Along one axis (rows, or columns): the shift, the run [first, last) it moved (the
    lines the move exposed included) and how many lines matched, or None."""
    shift = _vote(old_sig, new_sig, limit)
    if shift is None:
        return None
    # The band is the run of lines whose source (i - shift) lies in the band and matches.
    n = old_sig.size
    lines = np.arange(n)
    source = lines - shift
    inside = (source >= 0) & (source < n)
    match = np.zeros(n, dtype=np.bool_)
    match[inside] = new_sig[inside] == old_sig[source[inside]]
    hits = np.flatnonzero(match)
    if hits.size < MIN_VOTES:
        return None
    first, last = int(hits[0]), int(hits[-1]) + 1
    # Lines the move exposed (just revealed content) belong to the band too: they sit at its
    # leading edge, where no source line exists.
    if shift < 0:
        last = n
    else:
        first = 0
    return shift, first, last, int(hits.size)


def _vote(
    old_sig: npt.NDArray[np.uint64], new_sig: npt.NDArray[np.uint64], limit: int
) -> int | None:
    values, counts = np.unique(old_sig, return_counts=True)
    rare = values[counts <= MAX_SIGNATURE_REPEATS]
    voters = np.flatnonzero(np.isin(new_sig, rare) & (new_sig != old_sig))
    if voters.size < MIN_VOTES:
        return None
    order = np.argsort(old_sig, kind="stable")
    sorted_sig = old_sig[order]
    lo = np.searchsorted(sorted_sig, new_sig[voters], side="left")
    hi = np.searchsorted(sorted_sig, new_sig[voters], side="right")
    # Each voter's signature is in the old band once or twice (MAX_SIGNATURE_REPEATS = 2):
    # its candidate shifts are to the first and, where there is one, the second match.
    shifts = [voters - order[lo]]
    second = hi - lo > 1
    shifts.append(voters[second] - order[lo[second] + 1])
    found_shifts = np.concatenate(shifts)
    found_shifts = found_shifts[(found_shifts != 0) & (np.abs(found_shifts) <= limit)]
    if not found_shifts.size:
        return None
    found, votes = np.unique(found_shifts, return_counts=True)
    best = int(np.argmax(votes))
    if votes[best] < max(MIN_VOTES, MIN_VOTE_SHARE * voters.size):
        return None
    return int(found[best])
