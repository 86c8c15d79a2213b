"""The agent's own enforcement of a session: violations, idle and maximum time."""

from __future__ import annotations

import asyncio
import json

import pytest

import mamori_protocol as protocol
from host_agent.input.channel_policy import PolicyViolation, Violation
from host_agent.session.guard import SessionGuard

pytestmark = pytest.mark.unit


def start(**changes: object) -> protocol.SessionStart:
    fields = dict(
        session_id="S" * 22,
        host_id="pc-1",
        viewer_name="山田 太郎",
        viewer_id="yamada",
        organization="さくら内科",
        watermark=True,
        block_local_input=False,
        end_on_violation=True,
        idle_s=600,
        max_s=3600,
        view_only=False,
    )
    fields.update(changes)
    return protocol.SessionStart(**fields)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.reports: list[tuple[str, str]] = []
        self.ends: list[str] = []

    async def report(self, violation: str, detail: str) -> None:
        self.reports.append((violation, detail))

    async def end(self, reason: str) -> None:
        self.ends.append(reason)


def guard(rec: Recorder, clock: Clock, **changes: object) -> SessionGuard:
    return SessionGuard(
        start(**changes), None, 1280, 720, rec.report, rec.end, clock=clock, check_every_s=0.01
    )


async def test_a_foreign_channel_is_reported_and_ends_the_session() -> None:
    """A `clipboard` channel is refused, reported for audit, and ends the session."""
    rec = Recorder()
    assert not await guard(rec, Clock()).check_channel("clipboard", already_open=False)
    assert rec.reports[0][0] == "foreign_channel"
    assert rec.ends == ["foreign_channel"]


async def test_with_end_on_violation_off_the_attempt_is_still_reported() -> None:
    """The setting keeps the session; the audit report is sent all the same."""
    rec = Recorder()
    g = guard(rec, Clock(), end_on_violation=False)
    try:
        g.admit(json.dumps({"t": "file", "name": "karte.pdf"}))
    except PolicyViolation as exc:
        await g.violation(exc)
    assert [r[0] for r in rec.reports] == [Violation.FOREIGN_MESSAGE.value]
    assert rec.ends == []


async def test_no_input_for_the_idle_time_ends_with_idle_timeout() -> None:
    """With the clock past the idle limit and no input, the guard ends the session."""
    rec, clock = Recorder(), Clock()
    g = guard(rec, clock, idle_s=60)
    g.begin()
    clock.now = 30
    g.admit(json.dumps({"t": "move", "x": 1, "y": 1}))
    clock.now = 80
    await asyncio.sleep(0.05)
    assert rec.ends == []
    clock.now = 91
    for _ in range(100):
        if rec.ends:
            break
        await asyncio.sleep(0.01)
    await g.close()
    assert rec.ends == ["idle_timeout"]


async def test_the_maximum_ends_the_session_even_with_input() -> None:
    """At the maximum length the session ends, whatever the input."""
    rec, clock = Recorder(), Clock()
    g = guard(rec, clock, idle_s=600, max_s=120)
    g.begin()
    clock.now = 119
    g.admit(json.dumps({"t": "move", "x": 1, "y": 1}))
    clock.now = 120
    for _ in range(100):
        if rec.ends:
            break
        await asyncio.sleep(0.01)
    await g.close()
    assert rec.ends == ["max_session_time"]


async def test_a_view_only_session_reports_input_and_ends() -> None:
    """The broker said view only: the first input message is reported as view_only_input
    and ends the session (end_on_violation), never admitted."""
    rec = Recorder()
    g = guard(rec, Clock(), view_only=True)
    with pytest.raises(PolicyViolation) as refused:
        g.admit(json.dumps({"t": "key", "code": "KeyA", "key": "a", "down": True}))
    await g.violation(refused.value)
    assert rec.reports == [("view_only_input", "input in a view-only session")]
    assert rec.ends == ["view_only_input"]
