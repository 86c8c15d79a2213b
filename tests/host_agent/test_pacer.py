"""The pacer (host_agent.webrtc.pacer): a large frame leaves as a train at 2.5x the
estimate, retransmissions first, and the queue never stands longer than half a second."""

from __future__ import annotations

import pytest

from host_agent.webrtc.congestion_control import (
    MIN_PUSHBACK,
    PUSHBACK_FREE_S,
    PUSHBACK_S,
    encoder_target,
)
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


def test_a_long_queue_drains_in_about_its_bound_without_a_burst() -> None:
    # 2 MB queued at a 300 kbit/s estimate would take 54 s at 2.5x; the pacer sends it at
    # queue / MAX_QUEUE_S: most within the bound, all within a few, never all at once.
    pacer: Pacer[int] = Pacer(300_000, 0.0)
    for i in range(1700):
        pacer.push(i, 1200, 0.0)
    sent = drain(pacer, 0.0)
    assert len(sent) == 1700
    assert sum(1 for t, _ in sent if t <= MAX_QUEUE_S) >= 0.6 * 1700
    assert sent[-1][0] <= 8 * MAX_QUEUE_S
    first_ms = sum(1 for t, _ in sent if t < 0.001)
    assert first_ms * 1200 * 8 <= 2_040_000 * 8 / MAX_QUEUE_S * (0.001 + BURST_S) + 1200


def test_nothing_queued_means_nothing_scheduled() -> None:
    pacer: Pacer[int] = Pacer(1_000_000, 0.0)
    assert pacer.next_at(5.0) is None
    assert pacer.pop(5.0) is None
    pacer.push(1, 1200, 5.0)
    assert pacer.next_at(5.0) == 5.0
    assert pacer.pop(5.0) == 1


def test_the_encoder_is_pushed_back_while_the_pacer_queue_is_long() -> None:
    assert encoder_target(2_000_000, 0.0) == 2_000_000
    assert encoder_target(2_000_000, PUSHBACK_FREE_S) == 2_000_000
    half = encoder_target(2_000_000, PUSHBACK_FREE_S + PUSHBACK_S / 2)
    assert half == 1_000_000
    assert encoder_target(2_000_000, 10.0) == int(2_000_000 * MIN_PUSHBACK)


def test_a_probe_rate_over_the_estimate_paces_faster() -> None:
    """While the bottleneck is unknown the controller passes a probe rate (dispersion's):
    a 178 kB page switch leaves at it instead of 2.5x a 1.5 Mbit/s estimate (~0.38 s)."""
    pacer: Pacer[int] = Pacer(1_500_000, 0.0)
    pacer.set_bitrate(1_500_000, 0.0, at_least=20e6)
    for i in range(148):
        pacer.push(i, 1200, 0.0)
    sent = drain(pacer, 0.0)
    assert sent[-1][0] == pytest.approx(148 * 1200 * 8 / 20e6, rel=0.15)
    # Below the estimate's pacing it changes nothing.
    pacer.set_bitrate(1_500_000, 1.0, at_least=1e6)
    assert pacer.rate() == pytest.approx(1_500_000 * FACTOR)
