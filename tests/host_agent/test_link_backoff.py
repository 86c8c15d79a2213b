"""The agent's link backs off across failed attempts, however long each one took: only a link
that was established and stayed up resets the backoff (issue 18: timed-out attempts counted
as healthy, so a fleet retried a restarted broker every ~10 s)."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl

import pytest

from host_agent.link import broker_link
from host_agent.link.backoff import Backoff
from host_agent.link.broker_link import MAX_RETRY_AFTER_S, BrokerLink, LinkSettings, retry_after
from host_agent.webrtc.peer_session import StreamSettings

pytestmark = pytest.mark.unit


class NoInput:
    """The link never starts a session here: nothing is ever injected."""

    def close(self) -> None:
        return None


def closed_port() -> int:
    """A local port nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_failed_attempts_that_took_long_never_reset_the_backoff() -> None:
    """Every attempt "takes" 11 s by the link's clock (longer than a healthy link), yet
    fails: the backoff keeps counting up instead of starting afresh each time."""
    now = [0.0]

    def clock() -> float:
        now[0] += 11.0
        return now[0]

    backoff = Backoff(base_s=0.0005, cap_s=0.001)
    link = BrokerLink(
        LinkSettings(
            f"wss://127.0.0.1:{closed_port()}", "clinic-pc-1", "診察室1", ssl.create_default_context
        ),
        StreamSettings(display=":0"),
        NoInput(),  # type: ignore[arg-type]
        backoff=backoff,
        clock=clock,
    )
    task = asyncio.create_task(link.run())
    try:
        for _ in range(2000):  # 20 s at most
            if backoff.attempt >= 8:
                break
            await asyncio.sleep(0.01)
    finally:
        await link.stop()
        await asyncio.wait_for(task, 10)
    assert backoff.attempt >= 8
    assert link.connections == 0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), (None, 5.0), ("soon", 5.0), ("-3", 5.0), ("nan", 5.0),
     ("99999", MAX_RETRY_AFTER_S)],
)  # fmt: skip
def test_retry_after_is_read_bounded(header: str | None, seconds: float) -> None:
    """A broker's Retry-After is believed up to a bound; a missing or odd one still pauses."""
    assert retry_after(header) == seconds


async def test_attempts_turned_away_before_tls_retry_soon_but_keep_counting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nobody listens (a broker restarting): each refusal cost the broker nothing, so the
    next attempt comes within the short cap (here 10 ms) instead of the backoff's ceiling
    (here 100 s), and the backoff still counts every attempt (none resets it)."""
    monkeypatch.setattr(broker_link, "CHEAP_RETRY_CAP_S", 0.01)
    backoff = Backoff(base_s=100.0, cap_s=100.0)
    link = BrokerLink(
        LinkSettings(
            f"wss://127.0.0.1:{closed_port()}", "clinic-pc-1", "診察室1", ssl.create_default_context
        ),
        StreamSettings(display=":0"),
        NoInput(),  # type: ignore[arg-type]
        backoff=backoff,
    )
    task = asyncio.create_task(link.run())
    try:
        for _ in range(500):  # 5 s at most
            if backoff.attempt >= 5:
                break
            await asyncio.sleep(0.01)
    finally:
        await link.stop()
        await asyncio.wait_for(task, 10)
    assert backoff.attempt >= 5
    assert link.connections == 0


def test_a_capped_draw_counts_the_attempt_and_stays_under_both_bounds() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(3), attempt=10)
    delays = [backoff.next_delay(cap_s=2.0) for _ in range(50)]
    assert max(delays) <= 2.0
    assert backoff.attempt == 60
    assert Backoff(base_s=0.5, attempt=0, rng=random.Random(3)).next_delay(cap_s=2.0) <= 0.5
