"""Keyframe requests rate-limited (host_agent.webrtc.keyframe_limiter), and routed through a
real aiortc sender's PLI handling (host_agent.webrtc.rtcp_feedback)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

from host_agent.webrtc.keyframe_limiter import MIN_INTERVAL_S, KeyframeLimiter
from host_agent.webrtc.rtcp_feedback import attach_feedback

pytestmark = pytest.mark.unit


def test_the_first_request_is_answered_at_once() -> None:
    limiter = KeyframeLimiter()
    assert limiter.request(10.0) == 10.0


def test_requests_inside_the_interval_owe_one_idr_at_its_end() -> None:
    limiter = KeyframeLimiter()
    limiter.request(10.0)
    assert limiter.request(10.1) == pytest.approx(10.0 + MIN_INTERVAL_S)
    # Chromium repeats its PLI while it has no picture: nothing more is owed.
    assert limiter.request(10.2) is None
    assert limiter.request(10.3) is None
    assert not limiter.due(10.4)
    assert limiter.due(10.0 + MIN_INTERVAL_S)
    assert not limiter.due(10.6)  # paid once
    assert (limiter.requests, limiter.granted) == (4, 2)


def test_after_a_quiet_interval_a_request_is_answered_at_once_again() -> None:
    limiter = KeyframeLimiter()
    limiter.request(10.0)
    assert limiter.request(10.0 + MIN_INTERVAL_S) == 10.0 + MIN_INTERVAL_S


def test_a_long_round_trip_widens_the_interval() -> None:
    limiter = KeyframeLimiter()
    limiter.request(10.0, round_trip=0.4)
    assert limiter.request(10.6, round_trip=0.4) == pytest.approx(10.8)


def test_a_pli_storm_makes_two_idrs_not_twenty() -> None:
    limiter = KeyframeLimiter()
    made = 0
    owed_at: float | None = None
    for i in range(20):  # a PLI every 40 ms for 0.8 s
        now = 10.0 + i * 0.04
        if owed_at is not None and limiter.due(now):
            made += 1
            owed_at = None
        at = limiter.request(now)
        if at == now:
            made += 1
        elif at is not None:
            owed_at = at
    assert made == 2


class Track:
    def __init__(self) -> None:
        self.keyframes: list[float] = []

    def request_keyframe(self) -> None:
        self.keyframes.append(time.monotonic())

    def set_estimated_bitrate(self, bitrate: int) -> None:
        pass


class Transport:
    state = "new"


async def test_plis_through_a_real_sender_reach_the_track_rate_limited() -> None:
    sender = RTCRtpSender("video", Transport())  # type: ignore[arg-type]
    track = Track()
    limiter = attach_feedback(sender, track, KeyframeLimiter(min_interval_s=0.2))
    pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc)
    started = time.monotonic()
    for _ in range(5):
        await sender._handle_rtcp_packet(pli)
    assert len(track.keyframes) == 1
    # The owed one comes at the interval's end, by the event loop's timer.
    for _ in range(100):
        if len(track.keyframes) == 2:
            break
        await asyncio.sleep(0.02)
    assert len(track.keyframes) == 2
    assert track.keyframes[1] - started >= 0.2 - 0.01
    assert (limiter.requests, limiter.granted) == (5, 2)
