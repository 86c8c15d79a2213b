"""The send-side estimate over transport-cc feedback recorded from real Chromium on the
emulated links (``devkit/cc_recorder.py`` through ``bench/lossy_stream.py --record-cc``;
the traces in ``tests/host_agent/traces/``, how each was made in ``traces/README.md``).

The synthetic link of ``cc_link.py`` writes feedback the way this code reads it; these
traces are what Chromium actually sent: its feedback intervals and 250 us arrival
granularity, reordering, the loss it reported and the jitter of a real receive path. A
replay feeds the recorded sends and reports to ``SentPackets`` and ``BandwidthEstimator``
exactly as ``CongestionController`` did; the estimate depends on nothing else, so the
replay is what the estimator decides on that link (open loop: the sends are those the
live run made).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit.cc_recorder import Session, read_trace
from host_agent.webrtc.estimator import BandwidthEstimator
from host_agent.webrtc.transport_cc import SentPackets, parse_feedback

pytestmark = pytest.mark.unit

TRACES = Path(__file__).parent / "traces"


@dataclass
class Replay:
    times: list[float]  # s since the session's first send
    targets: list[int]
    reported: int  # packets the feedback reported on
    lost: int  # of which reported as not received
    sends: list[tuple[float, int]]  # (s since the first send, bytes)
    estimator: BandwidthEstimator

    def between(self, start: float, end: float) -> list[int]:
        return [b for t, b in zip(self.times, self.targets, strict=True) if start <= t < end]

    def sent_bps(self, start: float, end: float) -> float:
        """What the sender put on the link in [start, end) (bit/s)."""
        return sum(n for t, n in self.sends if start <= t < end) * 8 / (end - start)


def replay(session: Session) -> Replay:
    sent = SentPackets()
    estimator = BandwidthEstimator(session.start, session.max_bitrate)
    first = next(e[1] for e in session.events if e[0] == "s")
    times: list[float] = []
    targets: list[int] = []
    sends: list[tuple[float, int]] = []
    reported = lost = 0
    for event in session.events:
        if event[0] == "s":
            sent.next_sequence(event[1], event[2])
            sends.append((event[1] - first, event[2]))
            continue
        _, now, packet, rtt = event
        results = sent.results(parse_feedback(packet))
        if not results:
            continue
        reported += len(results)
        lost += sum(1 for r in results if r.arrival is None)
        targets.append(estimator.update(results, now, rtt))
        times.append(now - first)
    return Replay(times, targets, reported, lost, sends, estimator)


def longest(name: str) -> Session:
    """The trace's longest peer connection (a run may have reconnected once)."""
    sessions = read_trace(TRACES / name)
    assert sessions, f"{name}: no session recorded"
    return max(sessions, key=lambda s: s.sends)


def test_chromium_feedback_parses_and_reports_on_what_was_sent() -> None:
    names = sorted(p.name for p in TRACES.glob("*.jsonl.gz"))
    assert len(names) >= 2, names
    for name in names:
        session = longest(name)
        feedback = [e for e in session.events if e[0] == "f"]
        assert len(feedback) > 100, name
        run = replay(session)
        # Nearly every packet sent while Chromium was there is reported on (the agent goes
        # on sending for a few seconds after the browser has closed: nobody reports those).
        last = run.times[-1]
        while_reported = sum(1 for t, _ in run.sends if t <= last)
        assert run.reported >= 0.95 * while_reported, (name, run.reported, while_reported)


def test_a_2mbit_bottleneck_is_read_as_overuse_and_the_estimate_comes_back_when_it_widens() -> None:
    """The panning photo through 2 Mbit/s with a 200 ms queue, widened to 20 Mbit/s after
    ~17 s of the trace. The sender of this recording overshot its target (2-4 Mbit/s sent
    against an estimate falling from 1.5 to 0.2 Mbit/s: the rate control forgave change
    frames after one window, fixed since, host_agent/video/rate_control.py), so the link's
    queue stayed full: the estimate must read that as overuse and stay under the
    bottleneck, and climb once the queue is gone."""
    run = replay(longest("bottleneck_2mbit_then_20mbit.jsonl.gz"))
    assert run.sent_bps(2, 12) > 2.0e6, "harness: the recording no longer overshoots the link"
    narrow = run.between(5, 15)
    assert narrow, "no feedback in the narrow phase"
    assert max(narrow) < 2.0e6, f"the estimate stayed above the bottleneck: {max(narrow)}"
    assert run.estimator.stats.delay_drops >= 5, "the standing queue was not read as overuse"
    low = min(run.between(10, 17))
    end = statistics.median(run.between(27, 32))
    assert end > 3 * low, f"no climb after the widening: {low} -> {end}"


def test_5_percent_random_loss_is_reported_and_not_taken_for_congestion() -> None:
    """5 % random loss both ways, 30 ms each way, the text scrolling: Chromium reports
    about that share lost, and the estimate does not fall below what the stream needs."""
    run = replay(longest("loss_5_percent_scroll.jsonl.gz"))
    share = run.lost / run.reported
    # First transmissions reported lost; reports lost on the way back are not counted.
    assert 0.03 <= share <= 0.08, f"reported loss {share:.3f}"
    assert run.estimator.stats.loss_drops <= 3, run.estimator.stats
    late = run.between(12, 27)
    need = run.sent_bps(12, 27)
    assert late, "no feedback late in the run"
    assert statistics.median(late) >= 0.9 * need, (
        f"random loss cut the estimate under the stream: {statistics.median(late)} < {need}"
    )
