"""What a stream's samples say, for bench/lossy_stream.py and the network tests: figures per
second (frames, bitrate, glass-to-glass latency), the longest freeze Chromium counted, and how
the picture came back after an outage. Pure functions on the samples a run collected.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any, Final

from bench import metrics

# How often a run samples Chromium's inbound-rtp stats (s).
SAMPLE_S: Final = 0.5


def per_second(
    samples: list[dict[str, Any]], decoded: list[tuple[int, float]], paints: Any, wall_start: float
) -> list[dict[str, Any]]:
    """Each whole second of the window: frames decoded, kbit/s received, and the
    glass-to-glass latency (median, 90th percentile) of the new pictures in it."""
    out = []
    painted = sorted(t for times in paints.values() for t in times)
    for second in range(int(samples[-1]["t"])):
        a = min(samples, key=lambda s: abs(s["t"] - second))
        b = min(samples, key=lambda s: abs(s["t"] - second - 1))
        span = max(b["t"] - a["t"], 1e-3)
        window = (wall_start + second, wall_start + second + 1)
        latencies = metrics.latencies_ms(decoded, paints, window)
        out.append({
            "t": second,
            "fps": round((b["framesDecoded"] - a["framesDecoded"]) / span, 1),
            "kbit_s": round((b["bytesReceived"] - a["bytesReceived"]) * 8 / span / 1000),
            "latency_p50_ms": metrics.median(latencies),
            "latency_p90_ms": metrics.percentile(latencies, 0.9),
            "new_pictures": len(latencies),
            # The glass's own paints (100 a second when it works: a stalled glass is a
            # harness fault, not a frozen stream).
            "painted": bisect.bisect_left(painted, window[1])
            - bisect.bisect_left(painted, window[0]),
        })  # fmt: skip
    return out


def longest_freeze(samples: list[dict[str, Any]]) -> float:
    """The longest freeze Chromium counted (freezeCount / totalFreezesDuration sampled
    every SAMPLE_S): exact when one freeze ended between two samples; when k ended, the
    others lasted at most SAMPLE_S each, so the longest is at least the rest."""
    longest = 0.0
    for a, b in itertools.pairwise(samples):
        count = b["freezeCount"] - a["freezeCount"]
        if count > 0:
            total = b["totalFreezesDuration"] - a["totalFreezesDuration"]
            longest = max(longest, total - SAMPLE_S * (count - 1))
    return round(longest, 2)


def new_pictures(decoded: list[tuple[int, float]], start: float, end: float) -> list[float]:
    """When each new picture arrived (s from ``start``, wall s): the first decode of each
    glass code inside [start, end]. A code seen again is the same screen shown again (a
    keep-alive, a resent keyframe), not a new picture."""
    seen: set[int] = set()
    out = []
    for code, at_ms in decoded:
        if code in seen:
            continue
        seen.add(code)
        if start <= at_ms / 1000 <= end:
            out.append(round(at_ms / 1000 - start, 3))
    return sorted(out)


def recovery(times: list[float], after: float, end: float) -> tuple[float | None, float]:
    """How a picture came back after ``after`` (e.g. an outage's end): the wait for the first
    of ``times`` after it (``None``: none came), and the longest stretch without one from
    that first picture to ``end`` (s)."""
    later = sorted(t for t in times if after < t <= end)
    if not later:
        return None, 0.0
    edges = [*later, end]
    return round(later[0] - after, 3), round(max(b - a for a, b in itertools.pairwise(edges)), 3)


def stillness(times: list[float], span: float, limit: float = 1.0) -> tuple[float, int]:
    """What a person saw stand still in a window of ``span`` s: the longest stretch without
    a new picture (``times``, s from the window's start) and how many stretches were longer
    than ``limit``. The window's start and end are edges: a picture frozen from the start,
    or until the end, counts too."""
    edges = [0.0, *sorted(t for t in times if 0 <= t <= span), span]
    gaps = [b - a for a, b in itertools.pairwise(edges)]
    return round(max(gaps), 3), sum(1 for g in gaps if g > limit)


def picture_figures(
    decoded: list[tuple[int, float]], paints: Any, start: float, end: float
) -> dict[str, Any]:
    """The same figures for any receiver that reads the glass's code (our viewer, noVNC's
    canvas) over the window [start, end] (wall s): new pictures, their rate, the longest
    stillness and stretches over 1 s, and glass-to-glass latency (ms) of the new pictures."""
    times = new_pictures(decoded, start, end)
    latencies = metrics.latencies_ms(decoded, paints, (start, end))
    longest, over = stillness(times, end - start)
    return {
        "new_pictures_s": times,
        "new_per_s": round(len(times) / max(end - start, 1e-3), 1),
        "longest_still_s": longest,
        "still_over_1s": over,
        "latency_p50_ms": metrics.median(latencies),
        "latency_p90_ms": metrics.percentile(latencies, 0.9),
    }


def link_figures(link: list[tuple[float, dict[str, Any]]]) -> dict[str, int | None]:
    """What crossed one direction of the emulated link between its first and last counter
    snapshot ((offset s, counters)): kbit/s delivered (IP packets: headers and any
    retransmission included, the same measure for UDP and TCP), packets delivered and lost."""
    if len(link) < 2:
        return {"link_kbit_s": None, "link_lost": None, "link_packets": None}
    (t0, a), (t1, b) = link[0], link[-1]
    return {
        "link_kbit_s": round((b["delivered_bytes"] - a["delivered_bytes"]) * 8 / (t1 - t0) / 1000),
        "link_lost": b["lost"] - a["lost"],
        "link_packets": b["delivered"] - a["delivered"],
    }


def mean_queue_wait_ms(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The bottleneck's mean queueing delay (ms) of the packets it took in between two counter
    snapshots of one direction (``devkit.link_model.LinkStats``): whether a queue stood."""
    waited = float(b["queue_delay_sum"] - a["queue_delay_sum"])
    packets = int(b["queued"] - a["queued"])
    return round(1000 * waited / max(1, packets), 1)
