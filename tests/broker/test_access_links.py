"""One-time access links: single use, expiring, and sessions with an absolute lifetime."""

from __future__ import annotations

import pytest

from broker.security.access_links import AccessLinks

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_link_opens_one_session_once() -> None:
    """A link token redeems to a session exactly once."""
    links = AccessLinks(60, 3600)
    token = links.issue_link_token()
    session = links.redeem(token)
    assert session is not None
    assert links.session_valid(session)
    assert links.redeem(token) is None


def test_expired_link_and_session_are_refused() -> None:
    """Links die after their TTL; sessions after their absolute lifetime."""
    clock = Clock()
    links = AccessLinks(60, 3600, clock)
    late = links.issue_link_token()
    session = links.redeem(links.issue_link_token())
    clock.now += 61
    assert links.redeem(late) is None
    assert links.session_valid(session)
    clock.now += 3600
    assert not links.session_valid(session)


def test_unknown_or_absurd_session_tokens_are_invalid() -> None:
    """Forged, empty or oversized session tokens are refused."""
    links = AccessLinks(60, 3600)
    assert not links.session_valid(None)
    assert not links.session_valid("")
    assert not links.session_valid("forged")
    assert not links.session_valid("x" * 10_000)
