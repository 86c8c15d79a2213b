"""The retransmission history (host_agent.webrtc.retransmission): kept by time and bitrate,
resending only what can still help; installed into a real aiortc sender."""

from __future__ import annotations

import inspect

import aiortc.rtcrtpsender
import aiortc.rtp
import pytest
from aiortc import RTCRtpSender
from aiortc.rtp import RtpPacket

from host_agent.webrtc.retransmission import (
    MIN_BYTES,
    MIN_HORIZON_S,
    RetransmissionHistory,
    install,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(seq: int, size: int = 1200) -> RtpPacket:
    return RtpPacket(payload_type=102, sequence_number=seq % 65536, payload=b"\0" * size)


def fill(history: RetransmissionHistory, clock: Clock, first: int, count: int, pps: int) -> None:
    for i in range(count):
        history[(first + i) % 65536] = packet(first + i)
        clock.now += 1 / pps


def test_a_second_of_packets_is_kept_at_780_packets_per_second() -> None:
    """The measured rate at which aiortc's 128 packets last 0.17 s."""
    clock = Clock()
    history = RetransmissionHistory(clock, max_bitrate=8_000_000)
    fill(history, clock, 1000, 780, 780)
    assert history.get(1000) is not None  # sent 1 s ago
    fill(history, clock, 1780, 80, 780)
    assert history.get(1001) is None  # 1.1 s ago: gone
    assert history.get(1780) is not None
    assert history.stats.unknown == 1


def test_a_long_round_trip_lengthens_the_horizon() -> None:
    clock = Clock()
    rtt = [0.6]
    history = RetransmissionHistory(clock, 8_000_000, round_trip=lambda: rtt[0])
    assert history.horizon() == pytest.approx(1.8)
    fill(history, clock, 0, 1000, 600)  # 1.67 s
    assert history.get(0) is not None
    rtt[0] = 0.05
    assert history.horizon() == MIN_HORIZON_S


def test_bytes_are_bounded_by_the_bitrate_whatever_the_time() -> None:
    clock = Clock()
    history = RetransmissionHistory(clock, max_bitrate=2_000_000)
    limit = history.max_bytes()
    assert limit == max(MIN_BYTES, 2_000_000 // 8 * 2)
    # A burst far above the bitrate, all within a few milliseconds.
    fill(history, clock, 0, 3000, 1_000_000)
    assert len(history) * 1200 <= limit
    assert history.get(2999) is not None
    assert history.get(0) is None


def test_a_repeated_nack_within_a_round_trip_is_not_answered_twice() -> None:
    clock = Clock()
    history = RetransmissionHistory(clock, 8_000_000, round_trip=lambda: 0.08)
    fill(history, clock, 10, 5, 500)
    assert history.get(10) is not None
    clock.now += 0.03
    assert history.get(10) is None
    clock.now += 0.06
    assert history.get(10) is not None
    assert (history.stats.resent, history.stats.repeated) == (2, 1)


def test_a_nack_for_a_packet_no_longer_kept_asks_for_an_idr_and_stops_older_resends() -> None:
    """An outage longer than the horizon: the receiver NACKs packets from its start (gone)
    and its end (kept). One IDR is asked for; nothing sent before it is resent (the IDR
    supersedes it and would queue behind it); packets sent after are resent again."""
    clock = Clock()
    asked: list[float] = []
    history = RetransmissionHistory(clock, 8_000_000, on_unrecoverable=lambda: asked.append(1))
    fill(history, clock, 65000, 1400, 700)  # 2 s, wrapping the sequence numbers
    assert history.get(65010) is None  # 1.99 s ago: evicted
    assert asked == [1]
    assert history.get(65011) is None  # the same loss: no second request
    assert history.get(64) is None  # still kept, but superseded
    assert asked == [1]
    assert history.stats.superseded == 2
    assert history.stats.unrecoverable == 1
    fill(history, clock, 64, 10, 700)  # the IDR and after
    assert history.get(70) is not None


def test_a_nack_for_a_packet_never_sent_asks_for_nothing() -> None:
    clock = Clock()
    asked: list[int] = []
    history = RetransmissionHistory(clock, 8_000_000, on_unrecoverable=lambda: asked.append(1))
    fill(history, clock, 100, 10, 700)
    assert history.get(500) is None  # ahead of the newest: not a loss we made
    assert asked == []
    assert history.get(101) is not None


def test_the_superseded_mark_expires_before_the_sequence_numbers_wrap_onto_it() -> None:
    clock = Clock()
    asked: list[int] = []
    history = RetransmissionHistory(clock, 8_000_000, on_unrecoverable=lambda: asked.append(1))
    fill(history, clock, 0, 1000, 700)
    assert history.get(0) is None  # evicted: IDR, mark at 999
    fill(history, clock, 1000, 40_000, 700)  # 40 000 later, 999 is "ahead" in 16 bits
    assert history.get(40_990) is not None
    assert asked == [1]


def test_sequence_numbers_wrap() -> None:
    clock = Clock()
    history = RetransmissionHistory(clock, 8_000_000)
    fill(history, clock, 65530, 12, 500)
    assert history.get(65535) is not None
    found = history.get(3)
    assert found is not None
    assert found.sequence_number == 3


def test_aiortc_still_keys_its_history_the_way_the_patch_point_expects() -> None:
    """If aiortc changes how it stores or finds packets, this fails (not the streams)."""
    run_rtp = inspect.getsource(RTCRtpSender._run_rtp)
    retransmit = inspect.getsource(RTCRtpSender._retransmit)
    assert "self.__rtp_history[packet.sequence_number % RTP_HISTORY_SIZE]" in run_rtp
    assert "self.__rtp_history.get(sequence_number % RTP_HISTORY_SIZE)" in retransmit


class Transport:
    state = "new"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


async def test_a_real_sender_resends_a_packet_older_than_aiortcs_128() -> None:
    transport = Transport()
    clock = Clock()
    sender = RTCRtpSender("video", transport)  # type: ignore[arg-type]
    install(sender, RetransmissionHistory(clock, 8_000_000))
    history = sender._RTCRtpSender__rtp_history  # type: ignore[attr-defined]
    sent = 300  # 0.4 s at 750 packets/s
    assert sent > aiortc.rtp.RTP_HISTORY_SIZE  # what aiortc alone keeps
    for seq in range(65_400, 65_400 + sent):
        # What _run_rtp does with each packet it sends (the sequence wraps on the way):
        history[(seq % 65536) % aiortc.rtcrtpsender.RTP_HISTORY_SIZE] = packet(seq)
        clock.now += 1 / 750
    await sender._retransmit(65_400)
    await sender._retransmit(163)  # the last one, after the wrap
    await sender._retransmit(65_400)  # asked again at once: not answered twice
    assert [RtpPacket.parse(p).sequence_number for p in transport.sent] == [65_400, 163]
