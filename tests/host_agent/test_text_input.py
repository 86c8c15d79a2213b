"""Viewer-side text: the `text` message's rules, its rate and the clinic's setting.

Written as attempts to turn the `text` message into a paste channel.
"""

from __future__ import annotations

import json
import unicodedata

import pytest

import mamori_protocol as protocol
from host_agent.errors import InvalidInput
from host_agent.input.channel_policy import InputPolicy, TextNotAdmitted, TextRefusal
from host_agent.input.events import Key, RefusedText, Text, parse_input
from mamori_protocol.errors import MalformedMessage
from mamori_protocol.text_input import (
    MAX_TEXT_CHARS,
    TEXT_BURST,
    TextEntry,
    TextRefused,
    normalize_text,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def text(s: str) -> str:
    return json.dumps({"t": "text", "s": s}, ensure_ascii=False)


def test_text_is_nfc_normalised() -> None:
    """Decomposed kana (か + combining dakuten) arrive as the composed character."""
    decomposed = "か\u3099んじゃ"
    assert parse_input(text(decomposed), 10, 10) == Text("がんじゃ")
    assert unicodedata.is_normalized("NFC", normalize_text(decomposed))


def test_sixty_four_characters_pass_and_sixty_five_do_not() -> None:
    """64 code points (astral ones count once) are typed; 65 are refused."""
    assert normalize_text("𠮷" * MAX_TEXT_CHARS) == "𠮷" * MAX_TEXT_CHARS
    with pytest.raises(TextRefused):
        normalize_text("患" * (MAX_TEXT_CHARS + 1))


@pytest.mark.parametrize(
    "value", ["", "line\nbreak", "tab\there", "cr\r", "nul\x00", "\x7f", "\ud800", 5, None]
)
def test_controls_empty_and_non_strings_are_refused(value: object) -> None:
    """Newline and tab are keys, never text; controls, lone surrogates and non-strings are
    refused."""
    with pytest.raises(TextRefused):
        normalize_text(value)


def test_a_refused_text_message_is_not_a_key_or_foreign_message() -> None:
    """A well-formed `text` message with bad text raises RefusedText (soft refusal); extra
    fields are an ordinary invalid message."""
    with pytest.raises(RefusedText):
        parse_input(text("a\nb"), 10, 10)
    with pytest.raises(InvalidInput):
        parse_input(json.dumps({"t": "text", "s": "a", "key": "b"}), 10, 10)


def test_ten_thousand_characters_are_an_oversized_violation() -> None:
    """A 10,000-character text message is larger than any input message can be."""
    from host_agent.input.channel_policy import PolicyViolation, Violation

    policy = InputPolicy(10, 10, text_entry=TextEntry.VIEWER_TEXT)
    with pytest.raises(PolicyViolation) as refused:
        policy.admit(text("患" * 10_000))
    assert refused.value.violation is Violation.OVERSIZED_MESSAGE


def test_host_ime_only_refuses_text_but_not_keys() -> None:
    """With the clinic's default (host IME), text is refused; keys still pass."""
    policy = InputPolicy(10, 10, clock=Clock())
    with pytest.raises(TextNotAdmitted) as refused:
        policy.admit(text("患者"))
    assert refused.value.refusal is TextRefusal.NOT_ALLOWED
    assert refused.value.report
    key = json.dumps({"t": "key", "code": "Enter", "key": "Enter", "down": True})
    assert policy.admit(key) == Key("Enter", "Enter", True)


@pytest.mark.parametrize("mode", [TextEntry.VIEWER_TEXT, TextEntry.BOTH])
def test_a_burst_over_the_rate_is_refused_and_reported_once(mode: TextEntry) -> None:
    """20 text messages at once pass; the rest of the burst is refused, and only its first
    refusal is reported; after a quiet moment the rate is available again."""
    clock = Clock()
    policy = InputPolicy(10, 10, clock=clock, text_entry=mode)
    typed, refused = 0, []
    for _ in range(200):
        try:
            policy.admit(text("あ"))
            typed += 1
        except TextNotAdmitted as exc:
            refused.append(exc)
    assert typed == TEXT_BURST
    assert {exc.refusal for exc in refused} == {TextRefusal.FLOOD}
    assert sum(exc.report for exc in refused) == 1
    clock.now += 5.0
    assert policy.admit(text("い")) == Text("い")
    with pytest.raises(TextNotAdmitted) as again:
        policy.admit(text("a\tb"))
    assert again.value.refusal is TextRefusal.INVALID
    assert again.value.report  # a new burst after the quiet time


def test_session_start_carries_a_known_text_entry_only() -> None:
    """The broker names the clinic's text entry in session_start; an unknown value is
    refused, and an agent told nothing assumes host IME only."""
    start = protocol.SessionStart(
        session_id="s" * 16,
        host_id="pc-1",
        viewer_name="医師",
        viewer_id="dr",
        organization="クリニック",
        watermark=True,
        block_local_input=False,
        end_on_violation=True,
        idle_s=60,
        max_s=600,
        view_only=False,
        text_entry="both",
    )
    wire = protocol.encode(start)
    assert protocol.parse(wire, protocol.Direction.BROKER_TO_AGENT) == start
    with pytest.raises(MalformedMessage):
        protocol.parse(wire.replace('"both"', '"clipboard"'), protocol.Direction.BROKER_TO_AGENT)
    bare = json.loads(wire)
    del bare["text_entry"]
    parsed = protocol.parse(json.dumps(bare), protocol.Direction.BROKER_TO_AGENT)
    assert isinstance(parsed, protocol.SessionStart)
    assert TextEntry(parsed.text_entry) is TextEntry.HOST_IME
