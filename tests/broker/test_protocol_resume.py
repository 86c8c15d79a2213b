"""The resume messages (mamori_protocol/resume.py): closed schema, direction, bounds."""

from __future__ import annotations

import json
import secrets

import pytest

import mamori_protocol as protocol
from mamori_protocol import Direction, MalformedMessage, UnexpectedMessage

SID = "s" * 22
TOKEN = secrets.token_urlsafe(32)


def test_each_resume_message_travels_only_its_own_way() -> None:
    cases = [
        (protocol.SessionResume(SID, "doctor-1", 42), Direction.AGENT_TO_BROKER),
        (protocol.SessionResumed(SID), Direction.BROKER_TO_AGENT),
        (protocol.ResumeToken(TOKEN), Direction.BROKER_TO_VIEWER),
        (protocol.ViewerResume(TOKEN), Direction.VIEWER_TO_BROKER),
    ]
    for message, direction in cases:
        assert protocol.parse(protocol.encode(message), direction) == message
        for other in Direction:
            if other is not direction:
                with pytest.raises(UnexpectedMessage):
                    protocol.parse(protocol.encode(message), other)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "viewer_resume", "token": TOKEN[:-1]},  # too short
        {"type": "viewer_resume", "token": TOKEN + "A"},  # too long
        {"type": "viewer_resume", "token": "!" * 43},  # not URL-safe base64
        {"type": "viewer_resume", "token": TOKEN, "session_id": SID},  # viewers name none
        {"type": "viewer_resume"},
        {"type": "viewer_join", "host_id": "pc-1", "resume": 1},  # a flag, not a number
    ],
)
def test_a_malformed_viewer_resume_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(MalformedMessage):
        protocol.parse(json.dumps(raw), Direction.VIEWER_TO_BROKER)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "session_resume", "session_id": SID, "viewer_id": "doc", "elapsed_s": -1},
        {"type": "session_resume", "session_id": SID, "viewer_id": "doc", "elapsed_s": True},
        {"type": "session_resume", "session_id": SID, "viewer_id": "Doc!", "elapsed_s": 1},
        {"type": "session_resume", "session_id": "short", "viewer_id": "doc", "elapsed_s": 1},
        {"type": "session_resume", "viewer_id": "doc", "elapsed_s": 1},
        {"type": "session_resume", "session_id": SID, "viewer_id": "d", "elapsed_s": 1, "x": 1},
    ],
)
def test_a_malformed_session_resume_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(MalformedMessage):
        protocol.parse(json.dumps(raw), Direction.AGENT_TO_BROKER)


def test_a_join_may_ask_for_a_resume_secret() -> None:
    join = protocol.ViewerJoin("pc-1", resume=True)
    assert protocol.parse(protocol.encode(join), Direction.VIEWER_TO_BROKER) == join
    assert "resume" not in protocol.encode(protocol.ViewerJoin("pc-1"))


def test_a_session_lost_while_the_broker_was_away_goes_agent_to_broker_only() -> None:
    lost = protocol.SessionLost(SID, "doctor-1", 95, "peer_failed")
    assert protocol.parse(protocol.encode(lost), Direction.AGENT_TO_BROKER) == lost
    for other in Direction:
        if other is not Direction.AGENT_TO_BROKER:
            with pytest.raises(UnexpectedMessage):
                protocol.parse(protocol.encode(lost), other)


@pytest.mark.parametrize(
    "raw",
    [
        # Reasons are the agent's own few words, never free text for the audit.
        {"type": "session_lost", "session_id": SID, "viewer_id": "d", "elapsed_s": 1,
         "reason": "ended_by_admin"},
        {"type": "session_lost", "session_id": SID, "viewer_id": "d", "elapsed_s": 1,
         "reason": "peer failed"},
        {"type": "session_lost", "session_id": SID, "viewer_id": "d", "elapsed_s": -5,
         "reason": "peer_failed"},
        {"type": "session_lost", "session_id": SID, "viewer_id": "d", "reason": "peer_failed"},
        {"type": "session_lost", "session_id": "short", "viewer_id": "d", "elapsed_s": 1,
         "reason": "peer_failed"},
    ],
)  # fmt: skip
def test_a_malformed_session_lost_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(MalformedMessage):
        protocol.parse(json.dumps(raw), Direction.AGENT_TO_BROKER)
