"""The pacer (host_agent.webrtc.pacer): a large frame leaves as a train at 2.5x the
estimate, retransmissions first, and the queue never stands longer than half a second."""

from __future__ import annotations

import pytest

from host_agent.webrtc.pacer import BURST_S, FACTOR, MAX_QUEUE_S, Pacer

pytestmark = pytest.mark.unit


def drain(pacer: Pacer[int], start: float, step: float = 0.001) -> list[tuple[float, int]]:
    """Pop packets as an event loop would, waking at ``next_at`` (at most ``step`` late)."""
    out, now = [], start
    for _ in range(1_000_000):
        at = pacer.next_at(now)
        if at is None:
            return out
        now = max(now, at)
        while (packet := pacer.pop(now)) is not None:
            out.append((now, packet))
        now += step
    raise AssertionError("the pacer never emptied")


def test_a_large_frame_leaves_as_a_train_at_2_5x_the_estimate() -> None:
    bitrate = 2_000_000
    pacer: Pacer[int] = Pacer(bitrate, 0.0)
    frame = 250  # 250 x 1200 B = 300 kB: a keyframe of a text screen
    for i in range(frame):
        pacer.push(i, 1200, 0.0)
    sent = drain(pacer, 0.0)
    assert [p for _, p in sent] == list(range(frame))
    duration = sent[-1][0] - sent[0][0]
    expected = frame * 1200 * 8 / (bitrate * FACTOR)  # 0.48 s
    assert expected * 0.9 <= duration <= expected * 1.1
    # Smooth: no 10 ms anywhere carries more than the pacing rate allows (plus one burst).
    for t, _ in sent:
        in_window = sum(1200 for s, _ in sent if t <= s < t + 0.010)
        assert in_window <= bitrate * FACTOR / 8 * (0.010 + BURST_S) + 1200


def test_retransmissions_jump_the_queue() -> None:
    pacer: Pacer[str] = Pacer(1_000_000, 0.0)
    for i in range(20):
        pacer.push(f"media{i}", 1200, 0.0)
    first = pacer.pop(0.0)
    pacer.push("rtx", 1200, 0.0, resend=True)
    order = [p for _, p in drain(pacer, 0.0)]  # type: ignore[arg-type]
    assert first == "media0"
    assert order[0] == "rtx"
    assert order[1:] == [f"media{i}" for i in range(1, 20)]


def test_a_higher_estimate_speeds_the_train_up() -> None:
    pacer: Pacer[int] = Pacer(1_000_000, 0.0)
    for i in range(100):
        pacer.push(i, 1200, 0.0)
    pacer.set_bitrate(4_000_000, 0.0)
    sent = drain(pacer, 0.0)
    assert sent[-1][0] == pytest.approx(100 * 1200 * 8 / (4e6 * FACTOR), rel=0.15)


def test_the_queue_never_stands_longer_than_its_bound() -> None:
    # 2 MB queued at a 300 kbit/s estimate would take 21 s; the pacer empties it in 0.5 s.
    pacer: Pacer[int] = Pacer(300_000, 0.0)
    for i in range(1700):
        pacer.push(i, 1200, 0.0)
    sent = drain(pacer, 0.0)
    assert len(sent) == 1700
    assert sent[-1][0] <= MAX_QUEUE_S * 1.2


def test_nothing_queued_means_nothing_scheduled() -> None:
    pacer: Pacer[int] = Pacer(1_000_000, 0.0)
    assert pacer.next_at(5.0) is None
    assert pacer.pop(5.0) is None
    pacer.push(1, 1200, 5.0)
    assert pacer.next_at(5.0) == 5.0
    assert pacer.pop(5.0) == 1
