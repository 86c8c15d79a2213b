"""Signaling wire protocol shared by the broker, the host agent and the browser.

Sans-I/O and stdlib only: this module never touches a socket, so the agent can import it
without the broker's dependencies, and every rule is tested with plain data.

Every message is one JSON object sent as one WebSocket text frame, at most
``MAX_MESSAGE_BYTES`` long, with a ``type`` field naming one of a closed set of message
types. Each type has a closed set of fields; an unknown type, an unknown or missing field, a
value of the wrong kind or out of bounds is refused with a ``ProtocolError`` that carries the
WebSocket close code and a short reason to send back.

Which types may travel in which direction is part of the schema::

    viewer -> broker : viewer_join, viewer_resume, offer, ice, bye
    broker -> agent  : session_start, session_resumed, offer, ice, bye, error   (always with
                       session_id)
    agent  -> broker : agent_hello, session_resume, answer, ice, bye, violation, activity
                       (session_id in a session)
    broker -> viewer : answer, ice, bye, error, notice, resume_token

The resume messages (``mamori_protocol.resume``) carry a live session across a broker restart.

``web_client/core/protocol.js`` mirrors this module; keep the two in step.

Exception tree::

    ProtocolError
    ├── MessageTooBig        (close 1009)
    ├── MalformedMessage     (close 4400)
    ├── UnknownMessageType   (close 4415)
    └── UnexpectedMessage    (close 4405: a known type in the wrong direction)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, ClassVar, Final

from mamori_protocol.errors import (
    CloseCode,
    MalformedMessage,
    MessageTooBig,
    ProtocolError,
    UnexpectedMessage,
    UnknownMessageType,
)
from mamori_protocol.ice_servers import IceServer, ice_servers_from_wire
from mamori_protocol.resume import (
    LOST_REASONS,
    ResumeToken,
    SessionLost,
    SessionResume,
    SessionResumed,
    ViewerResume,
)
from mamori_protocol.validators import (
    MAX_CANDIDATE_CHARS,
    MAX_ERROR_MESSAGE_CHARS,
    MAX_MLINE_INDEX,
    MAX_NAME_CHARS,
    MAX_ORGANIZATION_CHARS,
    MAX_SDP_CHARS,
    MAX_SESSION_SECONDS,
    VALIDATORS,
)

__all__ = [
    "LOST_REASONS",
    "MAX_CANDIDATE_CHARS",
    "MAX_ERROR_MESSAGE_CHARS",
    "MAX_MESSAGE_BYTES",
    "MAX_MLINE_INDEX",
    "MAX_NAME_CHARS",
    "MAX_ORGANIZATION_CHARS",
    "MAX_SDP_CHARS",
    "MAX_SESSION_SECONDS",
    "VIEWER_BYE_REASONS",
    "Activity",
    "AgentHello",
    "Answer",
    "Bye",
    "CloseCode",
    "Direction",
    "Error",
    "IceCandidate",
    "IceServer",
    "MalformedMessage",
    "Message",
    "MessageTooBig",
    "Notice",
    "Offer",
    "ProtocolError",
    "ResumeToken",
    "SessionLost",
    "SessionResume",
    "SessionResumed",
    "SessionStart",
    "UnexpectedMessage",
    "UnknownMessageType",
    "ViewerJoin",
    "ViewerResume",
    "Violation",
    "encode",
    "parse",
]

# 64 KiB: an SDP offer from Chromium with every codec is ~6 KiB; anything near this limit is
# not signaling (issue #2 fixes the limit).
MAX_MESSAGE_BYTES: Final = 64 * 1024


class Direction(Enum):
    """Who sent a message to whom; each direction allows its own subset of types."""

    VIEWER_TO_BROKER = "viewer->broker"
    BROKER_TO_AGENT = "broker->agent"
    AGENT_TO_BROKER = "agent->broker"
    BROKER_TO_VIEWER = "broker->viewer"


@dataclass(frozen=True, slots=True)
class AgentHello:
    """First message of an agent: which host it serves."""

    TYPE: ClassVar[str] = "agent_hello"
    host_id: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class ViewerJoin:
    """A viewer asks for a host; the broker forwards it to the agent with a session id."""

    TYPE: ClassVar[str] = "viewer_join"
    host_id: str
    session_id: str | None = None
    # The page can take its signaling back after a broker restart: send it a resume secret
    # (``resume_token``, mamori_protocol/resume.py). Absent: a client that cannot.
    resume: bool | None = None


@dataclass(frozen=True, slots=True)
class SessionStart:
    """The broker tells the agent a session begins: who is looking, under which policy.

    The agent burns ``viewer_name``/``viewer_id``/``organization`` into the watermark, shows
    them on the host's banner, and enforces the limits itself (fail closed at each hop).
    ``view_only``: the viewer's grant allows the picture only; the agent refuses every input
    message of the session as a violation, whatever the browser sends. ``time_zone``: the
    clinic's zone (IANA name) the watermark shows the time in; absent, the agent's default.
    ``text_entry``: a ``text_input.TextEntry`` value, whether the agent types the viewer's
    own text (`text` input messages) or only keys.
    ``ice_servers``: STUN/TURN servers with this session's TURN credential, in the order to
    try them. ``ice_policy``: ``all`` or ``relay`` (relay only: no host or srflx candidate
    leaves the agent, and it uses no such remote candidate). ``lan_candidates``: whether
    remote candidates in private LAN ranges are admitted (mamori_protocol/candidates.py).
    """

    TYPE: ClassVar[str] = "session_start"
    session_id: str
    host_id: str
    viewer_name: str
    viewer_id: str
    organization: str
    watermark: bool
    block_local_input: bool
    end_on_violation: bool
    idle_s: int
    max_s: int
    view_only: bool
    time_zone: str | None = None
    text_entry: str = "host_ime"
    ice_servers: tuple[IceServer, ...] = ()
    ice_policy: str = "all"
    lan_candidates: bool = True


@dataclass(frozen=True, slots=True)
class Violation:
    """The agent refused something on the media path (a foreign channel, a flood, an SDP it
    will not negotiate); the broker audits it."""

    TYPE: ClassVar[str] = "violation"
    violation: str
    detail: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """The agent saw input in the session (at most once per ``activity_every_s``): the
    broker keeps its own idle clock from these, so the clear-screen after an idle spell is
    the broker's decision whatever order the ends of the session arrive in."""

    TYPE: ClassVar[str] = "activity"
    session_id: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the viewer must be told during a session, e.g. ``ending_soon``."""

    TYPE: ClassVar[str] = "notice"
    code: str
    seconds_left: int


@dataclass(frozen=True, slots=True)
class Offer:
    """SDP offer from the viewer (the browser opens the `input` channel, so it offers)."""

    TYPE: ClassVar[str] = "offer"
    sdp: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """SDP answer from the agent."""

    TYPE: ClassVar[str] = "answer"
    sdp: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """One trickled ICE candidate; an empty ``candidate`` marks the end of candidates."""

    TYPE: ClassVar[str] = "ice"
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Bye:
    """A session ends; ``reason`` is a machine-readable token (e.g. ``host_disconnected``)."""

    TYPE: ClassVar[str] = "bye"
    reason: str
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Error:
    """The broker refuses something; ``code`` is a token the client translates."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str


Message = (
    AgentHello
    | ViewerJoin
    | SessionStart
    | Offer
    | Answer
    | IceCandidate
    | Bye
    | Error
    | Violation
    | Notice
    | Activity
    | SessionResume
    | SessionLost
    | SessionResumed
    | ResumeToken
    | ViewerResume
)

_TYPES: Final[dict[str, type[Message]]] = {
    cls.TYPE: cls
    for cls in (
        AgentHello,
        ViewerJoin,
        SessionStart,
        Offer,
        Answer,
        IceCandidate,
        Bye,
        Error,
        Violation,
        Notice,
        Activity,
        SessionResume,
        SessionLost,
        SessionResumed,
        ResumeToken,
        ViewerResume,
    )
}

_ALLOWED: Final[dict[Direction, frozenset[str]]] = {
    Direction.VIEWER_TO_BROKER: frozenset({"viewer_join", "viewer_resume", "offer", "ice", "bye"}),
    Direction.BROKER_TO_AGENT: frozenset(
        {"session_start", "session_resumed", "offer", "ice", "bye", "error"}
    ),
    Direction.AGENT_TO_BROKER: frozenset(
        {
            "agent_hello",
            "session_resume",
            "session_lost",
            "answer",
            "ice",
            "bye",
            "violation",
            "activity",
        }
    ),
    Direction.BROKER_TO_VIEWER: frozenset(
        {"answer", "ice", "bye", "error", "notice", "resume_token"}
    ),
}

# Why a viewer may say it leaves: the page closing the viewer, or its own peer connection
# failing. Any other reason (``ended_by_admin``, ``idle_timeout``...) is the broker's or the
# agent's to give, and would otherwise be written into the audit as the page wishes.
VIEWER_BYE_REASONS: Final = frozenset({"viewer_left", "peer_failed", "webrtc"})

# Messages the broker sends to the agent always name the session they belong to, so an agent
# never applies a stale message from a previous session to the current one.
_SESSION_REQUIRED: Final = frozenset({Direction.BROKER_TO_AGENT})
# Viewers never name a session: the broker binds one viewer socket to one session.
_SESSION_FORBIDDEN: Final = frozenset({Direction.VIEWER_TO_BROKER, Direction.BROKER_TO_VIEWER})


def parse(raw: str | bytes, direction: Direction) -> Message:
    """Validate one wire frame and return the message it holds.

    Args:
        raw: the frame as received; bytes are refused (signaling is text only).
        direction: who sent it to whom.

    Raises:
        ProtocolError: the frame is too big, not JSON, of an unknown type, not allowed in this
            direction, or has a missing, unknown or invalid field.
    """
    if isinstance(raw, bytes):
        raise MalformedMessage("binary frames are not accepted")
    if len(raw) > MAX_MESSAGE_BYTES or len(raw.encode()) > MAX_MESSAGE_BYTES:
        raise MessageTooBig(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage("message is not valid JSON") from exc
    if not isinstance(data, dict):
        raise MalformedMessage("message must be a JSON object")
    kind = data.pop("type", None)
    if not isinstance(kind, str):
        raise MalformedMessage("message has no type")
    cls = _TYPES.get(kind)
    if cls is None:
        raise UnknownMessageType(f"unknown message type {kind[:40]!r}")
    if kind not in _ALLOWED[direction]:
        raise UnexpectedMessage(f"{kind} is not allowed {direction.value}")
    message = _build(cls, data)
    _check_session(message, direction)
    if (
        direction is Direction.VIEWER_TO_BROKER
        and isinstance(message, Bye)
        and message.reason not in VIEWER_BYE_REASONS
    ):
        raise MalformedMessage("bye: not a reason a viewer may give")
    if isinstance(message, SessionLost) and message.reason not in LOST_REASONS:
        raise MalformedMessage("session_lost: not a reason a kept session can end for")
    return message


def encode(message: Message) -> str:
    """Serialise a message for the wire; refuses what ``parse`` would refuse."""
    data = {"type": message.TYPE}
    data.update({k: v for k, v in asdict(message).items() if v is not None})
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Validate our own output so a bug here is caught at the sender, not the peer.
    _build(type(message), {k: v for k, v in data.items() if k != "type"})
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise MessageTooBig(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    return text


def _build(cls: type[Message], data: dict[str, Any]) -> Message:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise MalformedMessage(f"{cls.TYPE}: unknown field {sorted(unknown)[0][:40]!r}")
    if "ice_servers" in data:
        data = {**data, "ice_servers": ice_servers_from_wire(cls.TYPE, data["ice_servers"])}
    try:
        message = cls(**data)
    except TypeError as exc:
        raise MalformedMessage(f"{cls.TYPE}: missing field") from exc
    for f in fields(cls):
        VALIDATORS[f.name](cls.TYPE, f.name, getattr(message, f.name))
    return message


def _check_session(message: Message, direction: Direction) -> None:
    session_id = getattr(message, "session_id", None)
    if direction in _SESSION_REQUIRED and session_id is None and not isinstance(message, Error):
        raise MalformedMessage(f"{message.TYPE}: session_id is required {direction.value}")
    if direction in _SESSION_FORBIDDEN and session_id is not None:
        raise MalformedMessage(f"{message.TYPE}: session_id is not allowed {direction.value}")
