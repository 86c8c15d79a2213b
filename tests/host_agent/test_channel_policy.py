"""The `input` channel policy, written as attacks on it."""

from __future__ import annotations

import json

import pytest

from host_agent.errors import InvalidInput
from host_agent.input.channel_policy import (
    InputPolicy,
    PolicyViolation,
    TokenBucket,
    Violation,
    check_channel_label,
)
from host_agent.input.events import PointerMove

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("label", ["clipboard", "file", "input2", "Input", ""])
def test_any_channel_but_input_is_a_violation(label: str) -> None:
    """A `clipboard`, `file` or any other channel is refused as foreign."""
    with pytest.raises(PolicyViolation) as refused:
        check_channel_label(label, already_open=False)
    assert refused.value.violation is Violation.FOREIGN_CHANNEL


def test_a_second_input_channel_is_a_violation() -> None:
    """Only one `input` channel may exist per session."""
    check_channel_label("input", already_open=False)
    with pytest.raises(PolicyViolation):
        check_channel_label("input", already_open=True)


@pytest.mark.parametrize(
    ("raw", "violation"),
    [
        (json.dumps({"t": "clipboard", "text": "患者A 病名"}), Violation.FOREIGN_MESSAGE),
        (
            json.dumps({"t": "file", "name": "karte.pdf", "data": "JVBERi0x"}),
            Violation.FOREIGN_MESSAGE,
        ),
        (b"\x00binary", Violation.FOREIGN_MESSAGE),
        ("not json", Violation.FOREIGN_MESSAGE),
        ("[1, 2]", Violation.FOREIGN_MESSAGE),
        (
            json.dumps({"t": "key", "code": "KeyA", "key": "a" * 600, "down": True}),
            Violation.OVERSIZED_MESSAGE,
        ),
    ],
    ids=["clipboard", "file", "binary", "not-json", "array", "oversized"],
)
def test_foreign_and_oversized_messages_are_violations(
    raw: str | bytes, violation: Violation
) -> None:
    """Messages that are not input at all are attacks, not slips."""
    with pytest.raises(PolicyViolation) as refused:
        InputPolicy(1280, 720).admit(raw)
    assert refused.value.violation is violation


def test_bad_values_in_real_input_are_dropped_not_violations() -> None:
    """A pointer just off the screen is a client slip: InvalidInput, not a violation."""
    with pytest.raises(InvalidInput) as dropped:
        InputPolicy(1280, 720).admit(json.dumps({"t": "move", "x": 1280, "y": 0}))
    assert not isinstance(dropped.value, PolicyViolation)


def test_a_flood_over_the_rate_limit_is_a_violation() -> None:
    """Beyond the burst with no time passing, the next message is a flood."""
    clock = Clock()
    policy = InputPolicy(1280, 720, rate_per_s=100, burst=50, clock=clock)
    move = json.dumps({"t": "move", "x": 1, "y": 1})
    for _ in range(50):
        assert policy.admit(move) == PointerMove(1, 1)
    with pytest.raises(PolicyViolation) as refused:
        policy.admit(move)
    assert refused.value.violation is Violation.INPUT_FLOOD


def test_a_person_paced_stream_never_floods() -> None:
    """120 pointer moves a second for a minute stay under the default limit."""
    clock = Clock()
    policy = InputPolicy(1280, 720, clock=clock)
    move = json.dumps({"t": "move", "x": 5, "y": 5})
    for _ in range(120 * 60):
        clock.now += 1 / 120
        policy.admit(move)


def test_bucket_refills_with_time() -> None:
    """An emptied bucket admits again after enough time passes."""
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    assert bucket.take()
    assert bucket.take()
    assert not bucket.take()
    clock.now += 0.15
    assert bucket.take()
    assert not bucket.take()


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"t": "key", "code": "KeyA", "key": "a", "down": True}),
        json.dumps({"t": "move", "x": 1, "y": 1}),
        json.dumps({"t": "release"}),
        json.dumps({"t": "move", "x": 99999, "y": 0}),
        b"\x00",
    ],
)
def test_in_a_view_only_session_every_message_is_a_violation(raw: str | bytes) -> None:
    """View only: even a well-formed event or a release is refused, before parsing."""
    policy = InputPolicy(1920, 1080, view_only=True)
    with pytest.raises(PolicyViolation) as refused:
        policy.admit(raw)
    assert refused.value.violation is Violation.VIEW_ONLY_INPUT
