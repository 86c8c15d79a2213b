"""The numbers the bench reports: glass-to-glass latency, picture fidelity, summaries.

Pure functions on plain data (numpy arrays and lists), unit-tested without a display.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bench import glass_code

Paints = dict[int, list[float]]  # code value -> wall times (s) it was painted at


def read_paints(text: str) -> Paints:
    """Parse the glass log (``counter wall_time_s`` lines) into code -> sorted paint times."""
    paints: Paints = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue  # a line cut short by the glass being stopped
        code = int(parts[0]) % glass_code.MODULUS
        paints.setdefault(code, []).append(float(parts[1]))
    for times in paints.values():
        times.sort()
    return paints


def latencies_ms(
    decoded: Sequence[tuple[int, float]], paints: Paints, window: tuple[float, float]
) -> list[float]:
    """Glass-to-glass latency of each new picture decoded inside ``window`` (wall s).

    ``decoded`` holds (code, wall ms) per decoded picture. A picture whose code was already
    seen is the same glass frame shown again (a keep-alive, or a change elsewhere) and is
    not a new sample. The paint matched is the latest one of that code before the decode.
    """
    out: list[float] = []
    seen: set[int] = set()
    for code, at_ms in decoded:
        at = at_ms / 1000
        if code in seen:
            continue
        seen.add(code)
        if not window[0] <= at <= window[1]:
            continue
        times = paints.get(code)
        if not times:
            continue
        i = bisect.bisect_right(times, at) - 1
        if i < 0:
            continue
        latency = (at - times[i]) * 1000
        # A code repeats every 2**16 paints (655 s): anything older is not this paint.
        if latency < 10_000:
            out.append(latency)
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float | None]) -> float | None:
    """Median of the present values; ``inf`` (a lossless picture) sorts above every number."""
    present = sorted(v for v in values if v is not None and not math.isnan(v))
    if not present:
        return None
    mid = len(present) // 2
    if len(present) % 2:
        return present[mid]
    return (present[mid - 1] + present[mid]) / 2


def psnr(reference: npt.NDArray[np.uint8], picture: npt.NDArray[np.uint8]) -> float:
    """PSNR in dB over all RGB channels; ``inf`` when the pictures are identical."""
    if reference.shape != picture.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {picture.shape}")
    mse = float(np.mean((reference.astype(np.float64) - picture.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _box_mean(a: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """Mean over every k x k window (valid positions only), via an integral image."""
    s = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    total = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    return np.asarray(total / (k * k), dtype=np.float64)


def ssim(reference: npt.NDArray[np.uint8], picture: npt.NDArray[np.uint8], k: int = 7) -> float:
    """Mean SSIM of the luma (BT.601) with a k x k uniform window (Wang et al. 2004)."""
    weights = np.array([0.299, 0.587, 0.114])
    x = reference[..., :3].astype(np.float64) @ weights
    y = picture[..., :3].astype(np.float64) @ weights
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _box_mean(x, k), _box_mean(y, k)
    sxx = _box_mean(x * x, k) - mx * mx
    syy = _box_mean(y * y, k) - my * my
    sxy = _box_mean(x * y, k) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))
