"""Signaling wire protocol shared by the broker, the host agent and the browser.

Sans-I/O and stdlib only: this module never touches a socket, so the agent can import it
without the broker's dependencies, and every rule is tested with plain data.

Every message is one JSON object sent as one WebSocket text frame, at most
``MAX_MESSAGE_BYTES`` long, with a ``type`` field naming one of a closed set of message
types. Each type has a closed set of fields; an unknown type, an unknown or missing field, a
value of the wrong kind or out of bounds is refused with a ``ProtocolError`` that carries the
WebSocket close code and a short reason to send back.

Which types may travel in which direction is part of the schema::

    viewer -> broker : viewer_join, offer, ice, bye
    broker -> agent  : viewer_join, offer, ice, bye, error   (always with session_id)
    agent  -> broker : agent_hello, answer, ice, bye         (session_id where a session exists)
    broker -> viewer : answer, ice, bye, error

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
import re
from dataclasses import asdict, dataclass, fields
from enum import Enum, IntEnum
from typing import Any, ClassVar, Final

# 64 KiB: an SDP offer from Chromium with every codec is ~6 KiB; anything near this limit is
# not signaling (issue #2 fixes the limit).
MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_SDP_CHARS: Final = 60_000
MAX_CANDIDATE_CHARS: Final = 1024
MAX_NAME_CHARS: Final = 100
MAX_ERROR_MESSAGE_CHARS: Final = 200
MAX_MLINE_INDEX: Final = 15

_HOST_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,32}")
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,39}")
_SDP_MID = re.compile(r"[A-Za-z0-9_.-]{0,32}")
# Control characters other than CR/LF/TAB never belong in signaling text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CloseCode(IntEnum):
    """WebSocket close codes the broker uses; 4xxx mirror HTTP where one fits."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    MALFORMED = 4400
    UNAUTHORIZED = 4401
    UNKNOWN_HOST = 4404
    UNEXPECTED = 4405
    HOST_BUSY = 4409
    HOST_DISCONNECTED = 4410
    HOST_ID_TAKEN = 4412
    UNKNOWN_TYPE = 4415


class Direction(Enum):
    """Who sent a message to whom; each direction allows its own subset of types."""

    VIEWER_TO_BROKER = "viewer->broker"
    BROKER_TO_AGENT = "broker->agent"
    AGENT_TO_BROKER = "agent->broker"
    BROKER_TO_VIEWER = "broker->viewer"


class ProtocolError(Exception):
    """A message that must be refused; ``close_code`` and ``reason`` go back to the peer."""

    close_code: CloseCode = CloseCode.MALFORMED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        # A WebSocket close reason is at most 123 bytes of UTF-8.
        self.reason = reason.encode()[:123].decode(errors="ignore")


class MessageTooBig(ProtocolError):
    close_code = CloseCode.MESSAGE_TOO_BIG


class MalformedMessage(ProtocolError):
    close_code = CloseCode.MALFORMED


class UnknownMessageType(ProtocolError):
    close_code = CloseCode.UNKNOWN_TYPE


class UnexpectedMessage(ProtocolError):
    close_code = CloseCode.UNEXPECTED


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


Message = AgentHello | ViewerJoin | Offer | Answer | IceCandidate | Bye | Error

_TYPES: Final[dict[str, type[Message]]] = {
    cls.TYPE: cls for cls in (AgentHello, ViewerJoin, Offer, Answer, IceCandidate, Bye, Error)
}

_ALLOWED: Final[dict[Direction, frozenset[str]]] = {
    Direction.VIEWER_TO_BROKER: frozenset({"viewer_join", "offer", "ice", "bye"}),
    Direction.BROKER_TO_AGENT: frozenset({"viewer_join", "offer", "ice", "bye", "error"}),
    Direction.AGENT_TO_BROKER: frozenset({"agent_hello", "answer", "ice", "bye"}),
    Direction.BROKER_TO_VIEWER: frozenset({"answer", "ice", "bye", "error"}),
}

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
    try:
        message = cls(**data)
    except TypeError as exc:
        raise MalformedMessage(f"{cls.TYPE}: missing field") from exc
    for f in fields(cls):
        _VALIDATORS[f.name](cls.TYPE, f.name, getattr(message, f.name))
    return message


def _check_session(message: Message, direction: Direction) -> None:
    session_id = getattr(message, "session_id", None)
    if direction in _SESSION_REQUIRED and session_id is None and not isinstance(message, Error):
        raise MalformedMessage(f"{message.TYPE}: session_id is required {direction.value}")
    if direction in _SESSION_FORBIDDEN and session_id is not None:
        raise MalformedMessage(f"{message.TYPE}: session_id is not allowed {direction.value}")


def _text(
    kind: str,
    name: str,
    value: object,
    *,
    limit: int,
    pattern: re.Pattern[str] | None,
    allow_empty: bool = False,
) -> None:
    if not isinstance(value, str):
        raise MalformedMessage(f"{kind}.{name} must be a string")
    if len(value) > limit or (not value and not allow_empty):
        raise MalformedMessage(f"{kind}.{name} must be 1..{limit} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise MalformedMessage(f"{kind}.{name} has invalid characters")
    if _CONTROL.search(value):
        raise MalformedMessage(f"{kind}.{name} contains control characters")


def _host_id(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=63, pattern=_HOST_ID)


def _session_id(kind: str, name: str, value: object) -> None:
    if value is not None:
        _text(kind, name, value, limit=64, pattern=_SESSION_ID)


def _display_name(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=MAX_NAME_CHARS, pattern=None)
    if isinstance(value, str) and ("\n" in value or "\r" in value or "\t" in value):
        raise MalformedMessage(f"{kind}.{name} must be one line")


def _version(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=32, pattern=_VERSION)


def _sdp(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=MAX_SDP_CHARS, pattern=None)
    if isinstance(value, str) and not value.startswith("v=0"):
        raise MalformedMessage(f"{kind}.{name} is not an SDP session description")


def _candidate(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=MAX_CANDIDATE_CHARS, pattern=None, allow_empty=True)
    if isinstance(value, str) and value and not value.startswith("candidate:"):
        raise MalformedMessage(f"{kind}.{name} is not an ICE candidate line")
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise MalformedMessage(f"{kind}.{name} must be one line")


def _sdp_mid(kind: str, name: str, value: object) -> None:
    if value is not None:
        _text(kind, name, value, limit=32, pattern=_SDP_MID, allow_empty=True)


def _mline_index(kind: str, name: str, value: object) -> None:
    if value is None:
        return
    # bool is an int in Python; JSON true must not pass as m-line 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"{kind}.{name} must be an integer")
    if not 0 <= value <= MAX_MLINE_INDEX:
        raise MalformedMessage(f"{kind}.{name} must be 0..{MAX_MLINE_INDEX}")


def _token(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=40, pattern=_TOKEN)


def _error_message(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=MAX_ERROR_MESSAGE_CHARS, pattern=None)


_VALIDATORS: Final = {
    "host_id": _host_id,
    "session_id": _session_id,
    "name": _display_name,
    "version": _version,
    "sdp": _sdp,
    "candidate": _candidate,
    "sdp_mid": _sdp_mid,
    "sdp_mline_index": _mline_index,
    "reason": _token,
    "code": _token,
    "message": _error_message,
}
