"""The congestion target around a page switch on loopback: does one large frame read as
congestion?

Runs ``bench.settled_tiles``' session (real broker, agent on Xvfb in this process,
headless Chromium, loopback; a gray screen switched to a full screen of dense text, then
to a radiograph-like image) with the congestion control recorded (``devkit.cc_recorder``),
then replays the trace through ``SentPackets`` and ``BandwidthEstimator`` (the estimate
depends on nothing else, so the replay is what the live estimator decided) and reports,
per page switch (a send burst of more than ``SWITCH_BYTES`` within ``SWITCH_S``): the
target just before it, its lowest over the next 3 s, how long it stayed under half of
the before figure, and the delay drops. ``--trace`` replays a kept trace instead;
``--verbose`` prints the estimator's inputs per feedback around each switch.

    .venv/bin/python -m bench.page_switch_cc [--runs 1] [--keep DIR] [--trace T.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from devkit.cc_recorder import Session, read_trace, record_into
from host_agent.webrtc.congestion_control import CongestionController
from host_agent.webrtc.estimator import BandwidthEstimator
from host_agent.webrtc.transport_cc import PacketResult, SentPackets, parse_feedback

SWITCH_BYTES = 60_000
SWITCH_S = 0.1
AFTER_S = 3.0


def switches(session: Session) -> list[float]:
    """Start times of send bursts over SWITCH_BYTES in SWITCH_S (one per 2 s at most)."""
    sends = [(e[1], e[2]) for e in session.events if e[0] == "s"]
    found: list[float] = []
    start, total = 0, 0
    for t, n in sends:
        total += n
        while sends[start][0] < t - SWITCH_S:
            total -= sends[start][1]
            start += 1
        if total > SWITCH_BYTES and (not found or sends[start][0] - found[-1] > 2.0):
            found.append(sends[start][0])
    return found


def replay(session: Session, verbose: bool, marks: list[float]) -> list[dict[str, Any]]:
    sent = SentPackets()
    estimator = BandwidthEstimator(session.start, session.max_bitrate)
    points: list[tuple[float, int, int]] = []  # (time, target, delay drops so far)
    for event in session.events:
        if event[0] == "s":
            sent.next_sequence(event[1], event[2])
            continue
        _, now, packet, rtt = event
        results = sent.results(parse_feedback(packet))
        if not results:
            continue
        target = estimator.update(results, now, rtt)
        points.append((now, target, estimator.stats.delay_drops))
        if verbose and any(-0.3 <= now - m <= AFTER_S for m in marks):
            print(_feedback_line(estimator, results, now - marks[0], marks[0], target))
    out = []
    for mark in marks:
        before = [p for p in points if p[0] < mark]
        after = [p for p in points if mark <= p[0] < mark + AFTER_S]
        if not before or not after:
            continue
        base = before[-1][1]
        low = min(p[1] for p in after)
        under = [p[0] for p in after if p[1] < base / 2]
        out.append({
            "before_kbps": base // 1000,
            "lowest_kbps": low // 1000,
            "at_end_kbps": after[-1][1] // 1000,
            "under_half_s": round(under[-1] - under[0], 2) if under else 0.0,
            "delay_drops": after[-1][2] - before[-1][2],
        })  # fmt: skip
    return out


def _feedback_line(
    estimator: BandwidthEstimator,
    results: list[PacketResult],
    at: float,
    zero: float,
    target: int,
) -> str:
    """One feedback as the estimator saw it: its packets' send and arrival spans (an
    arrival span much shorter than the send span is a burst released at once), the trend
    against its threshold, the usage, the acknowledged rates and the target."""
    got = [r for r in results if r.arrival is not None]
    sends = [r.send_time - zero for r in got] or [0.0]
    arrivals = [r.arrival for r in got if r.arrival is not None] or [0.0]
    trend = estimator.trend
    return (
        f"{at:8.3f} n={len(results):3d} lost={len(results) - len(got)} "
        f"sent {min(sends):7.3f}..{max(sends):7.3f} "
        f"span sent {(max(sends) - min(sends)) * 1000:5.1f} ms "
        f"arrived {(max(arrivals) - min(arrivals)) * 1000:5.1f} ms "
        f"bytes {sum(r.size for r in got):6d} trend {trend.trend:6.2f}/{trend.threshold_ms:4.1f} "
        f"{trend.usage.value:10s} acked {estimator.acked.bitrate()} target {target} "
        f"drops {estimator.stats.delay_drops}"
    )  # fmt: skip


def report(trace: Path, verbose: bool) -> list[dict[str, Any]]:
    results = []
    for session in read_trace(trace):
        marks = switches(session)
        results += replay(session, verbose, marks)
    return results


async def record(trace: Path, runs: int) -> list[list[str]]:
    """``runs`` sessions into one trace (one session line each); the load after each."""
    from bench import settled_tiles
    from host_agent.webrtc.ice import restrict_host_candidates

    restrict_host_candidates(["127.0.0.1"])
    loads = []
    patched = (CongestionController.__init__, CongestionController.on_feedback,
               SentPackets.next_sequence)  # fmt: skip
    with trace.open("w", encoding="utf-8") as out:
        record_into(out)
        try:
            for _ in range(runs):
                with tempfile.TemporaryDirectory(prefix="mamori-bench-") as tmp:
                    await settled_tiles.one_mode(True, Path(tmp))
                loads.append(Path("/proc/loadavg").read_text().split()[:3])
        finally:  # the replay must not write into the closed trace
            CongestionController.__init__ = patched[0]  # type: ignore[method-assign]
            CongestionController.on_feedback = patched[1]  # type: ignore[method-assign]
            SentPackets.next_sequence = patched[2]  # type: ignore[method-assign]
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="directory to keep the traces in")
    parser.add_argument("--trace", type=Path, help="replay this trace, record nothing")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.trace:
        print(json.dumps(report(args.trace, args.verbose), indent=1))
        return
    keep = args.keep or Path(tempfile.mkdtemp(prefix="mamori-cc-"))
    keep.mkdir(parents=True, exist_ok=True)
    trace = keep / "page_switch.jsonl"
    loads = asyncio.run(record(trace, args.runs))
    print(json.dumps({"trace": str(trace), "loadavg_after_each": loads,
                      "switches": report(trace, args.verbose)}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
