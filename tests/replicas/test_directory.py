"""The other replicas' views (broker/replicas/directory.py): malformed entries dropped one
by one, a view not renewed in time forgotten, sessions found by their holder."""

from __future__ import annotations

import time

import pytest

from broker.replicas import directory
from broker.replicas.directory import Directory
from broker.signaling.sessions import HostInfo, LiveSession

pytestmark = pytest.mark.unit


def test_views_are_read_entry_by_entry_and_lapse() -> None:
    found = Directory()
    live = LiveSession("s" * 22, "pc-1", "受付", 7, "doctor-a", "医師 A", 30)
    found.learn(
        "broker-a",
        [directory.hosts_entry(1, HostInfo("pc-1", "受付", True)), ["bad"], [1, "x" * 65, "n", 0]],
        [directory.session_entry(1, live), [1, 2, 3]],
    )
    assert found.hosts(1) == [HostInfo("pc-1", "受付", True)]
    assert found.hosts(2) == []
    (seen,) = found.sessions(1)
    assert (seen.session_id, seen.username) == (live.session_id, "doctor-a")
    assert 29 <= seen.duration_s <= 31
    assert found.holder_of(1, live.session_id) == "broker-a"
    assert found.holder_of(2, live.session_id) is None
    found._views["broker-a"].seen_at = time.monotonic() - directory.STALE_S - 1
    assert found.hosts(1) == []
    assert found.holder_of(1, live.session_id) is None
