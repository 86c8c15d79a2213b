"""The pure parts of the pre-authentication limits: the JSON shape scan, the sign-in token
buckets and the aggregation of anonymous refusals (issue 12, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.audit.record import Event
from broker.audit.refusals import RefusalAudit
from broker.identity.throttle import Rate, SignInThrottle, address_key
from broker.server.limits import BodyLimits, json_shape_problem

pytestmark = pytest.mark.unit

LIMITS = BodyLimits(max_bytes=1 << 20, max_depth=8, max_items=100)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"username": "a", "password": "b"}', None),
        (b"[" * 8 + b"]" * 8, None),
        (b"[" * 9 + b"]" * 9, "nested deeper than 8"),
        (b"[" + b"0," * 100 + b"0]", "more than 100 items"),
        # Brackets and commas inside strings are text, not structure.
        (b'{"a": "' + b"[[[[[[[[[[,,,,,," * 50 + b'"}', None),
        (b'{"a": "\\"[[[[[[[[[["}', None),
        (b"not json at all [[[[[[[[[[[[", None),  # left to the parser to refuse
        (b"", None),
    ],
)
def test_json_shape(body: bytes, problem: str | None) -> None:
    """Depth and item count are judged on structure only."""
    assert json_shape_problem(body, LIMITS) == problem


def test_a_bucket_takes_its_burst_then_waits_for_its_rate() -> None:
    """Five at once, the sixth is told how long to wait; a minute later one more."""
    throttle = SignInThrottle(Rate(5, 1.0), Rate(100, 100.0))
    assert [throttle.take("192.0.2.1", f"u{i}", T0) for i in range(5)] == [None] * 5
    wait = throttle.take("192.0.2.1", "u9", T0)
    assert wait is not None
    assert 59 < wait <= 60
    assert throttle.take("192.0.2.1", "u9", T0 + timedelta(seconds=61)) is None


def test_an_empty_bucket_takes_nothing_from_the_other() -> None:
    """A refused attempt does not spend the account's allowance (nor the address's)."""
    throttle = SignInThrottle(Rate(1, 1.0), Rate(2, 1.0))
    assert throttle.take("192.0.2.1", "ann", T0) is None
    assert throttle.take("192.0.2.1", "ann", T0) is not None  # the address is empty
    assert throttle.take("192.0.2.2", "ann", T0) is None  # ann still had one
    assert throttle.take("192.0.2.3", "ann", T0) is not None


def test_an_ipv6_host_counts_by_its_64() -> None:
    """Rotating through one's own /64 does not give new allowances."""
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")


def test_refusals_are_written_once_per_window_and_counted() -> None:
    """First refusal written, the next 9 counted, the count handed out when the window
    passed, and a new window starts written again."""
    audit = RefusalAudit(window_s=60)
    admitted = [
        audit.admit("192.0.2.1", Event.LOGIN_PASSWORD, "rate_limited", T0 + timedelta(seconds=i))
        for i in range(10)
    ]
    assert admitted == [True] + [False] * 9
    assert audit.due(T0 + timedelta(seconds=30)) == []
    [summary] = audit.due(T0 + timedelta(seconds=61))
    assert (summary.source, summary.count) == ("192.0.2.1", 9)
    assert "9 more from this address" in summary.text()
    assert audit.admit("192.0.2.1", Event.LOGIN_PASSWORD, "rate_limited", T0 + timedelta(90))


def test_the_refusal_table_is_bounded() -> None:
    """Past its size, new addresses share one window (address "*")."""
    audit = RefusalAudit(window_s=60, max_keys=3)
    for i in range(10):
        audit.admit(f"192.0.2.{i}", Event.ENROLLMENT_STARTED, "x", T0)
    [*_, shared] = audit.due(T0, everything=True)
    assert (shared.source, shared.count) == ("*", 6)
