"""What replicas tell each other over Redis, as a closed schema with size limits.

Two kinds of channel (``bus``): each replica's own (``mamori:replica:<name>``), carrying one
routed viewer's signaling (a join, or a page's resume of its re-adopted session) between the
replica its browser reached and the replica holding the agent; and one broadcast channel
every replica hears, carrying decisions the holder of a session or link must apply (an
admin's end, a revoked device or certificate, a sign-out, a grant change, a new clinic CA)
and each replica's view of its agents and sessions.

A message is one JSON object ``{"op": ..., "from": <replica>, ...}``. ``parse`` refuses any
other op, any missing, unknown or mistyped field and anything over ``MAX_BYTES`` (a signaling
frame is at most ``mamori_protocol.MAX_MESSAGE_BYTES`` and travels whole inside one message,
so Redis's 512 MB bulk limit is never near). A replica trusts Redis no more than it must:
a routed join or resume is checked again against the database by the replica that holds
the agent, and a frame is parsed again with ``mamori_protocol`` on arrival.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from mamori_protocol import MAX_MESSAGE_BYTES

# A frame plus its envelope; a view of 2,000 agents (~80 bytes each) fits too.
MAX_BYTES: Final = 1024 * 1024
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_HOST: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REASON: Final = re.compile(r"^[a-z_]{1,40}$")
MAX_IDS: Final = 10_000
MAX_VIEW_ENTRIES: Final = 50_000

# Field kinds: how each field is checked.
_INT = "int"
_OPT_INT = "int?"
_BOOL = "bool"
_NAME_F = "name"
_TOKEN_F = "token"  # noqa: S105 - a field kind, not a secret
_HOST_F = "host"
_REASON_F = "reason"
_TEXT = "text"  # a short free text (an error message, a close reason)
_FRAME = "frame"  # one mamori_protocol frame, parsed again by whoever uses it
_IDS = "ids"
_SERIALS = "serials"
_VIEW = "view"

# Each op and its fields (besides "op" and "from"); nothing else is accepted.
OPS: Final[dict[str, dict[str, str]]] = {
    # viewer's replica -> agent's replica
    "join": {
        "conn": _TOKEN_F, "org": _INT, "host": _HOST_F, "owner": _INT, "user": _INT,
        "device": _INT, "session": _TOKEN_F, "view_only": _BOOL,
    },
    # a page taking its re-adopted session back (``remote_resume``); answered "joined"
    "resume": {
        "conn": _TOKEN_F, "org": _INT, "host": _HOST_F, "owner": _INT, "user": _INT,
        "session": _TOKEN_F, "secret": _TOKEN_F,
    },
    "viewer": {"conn": _TOKEN_F, "frame": _FRAME},
    "leave": {"conn": _TOKEN_F, "reason": _REASON_F},
    "end": {"conn": _TOKEN_F, "reason": _REASON_F, "code": _INT},
    "gone": {"conn": _TOKEN_F},
    # agent's replica -> viewer's replica
    "joined": {"conn": _TOKEN_F, "error": _TEXT, "message": _TEXT},
    "send": {"conn": _TOKEN_F, "frame": _FRAME},
    "close": {"conn": _TOKEN_F, "code": _INT, "reason": _TEXT},
    # broadcast
    "end_owners": {"ids": _IDS, "reason": _REASON_F},
    "end_devices": {"ids": _IDS, "reason": _REASON_F},
    "end_session": {"org": _INT, "session": _TOKEN_F, "reason": _REASON_F},
    "cut_certs": {"org": _INT, "host": _HOST_F, "serials": _SERIALS},
    "recheck": {"org": _INT},
    "ca": {"org": _INT},
    "view": {"hosts": _VIEW, "sessions": _VIEW},
}  # fmt: skip


class WireError(ValueError):
    """A replica message that is not one of ours: dropped (and logged) by the receiver."""


@dataclass(frozen=True)
class Message:
    op: str
    sender: str
    fields: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


def encode(op: str, sender: str, **values: Any) -> str:
    """One message, checked like ``parse`` checks it (a bug is caught at the sender)."""
    text = json.dumps({"op": op, "from": sender, **values}, separators=(",", ":"))
    parse(text)
    return text


def parse(raw: str | bytes) -> Message:
    if len(raw) > MAX_BYTES:
        raise WireError("replica message too big")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WireError("replica message is not JSON") from exc
    if not isinstance(data, dict):
        raise WireError("replica message is not an object")
    op = data.pop("op", None)
    sender = data.pop("from", None)
    spec = OPS.get(op) if isinstance(op, str) else None
    if spec is None or not isinstance(op, str):
        raise WireError("unknown replica op")
    if not isinstance(sender, str) or not _NAME.match(sender):
        raise WireError("replica message without a sender")
    if set(data) != set(spec):
        raise WireError(f"{op}: fields {sorted(data)} are not {sorted(spec)}")
    for name, kind in spec.items():
        if not _valid(kind, data[name]):
            raise WireError(f"{op}: field {name} is not a valid {kind}")
    return Message(op, sender, data)


def _valid(kind: str, value: Any) -> bool:
    match kind:
        case "int":
            return type(value) is int and -(2**62) < value < 2**62
        case "int?":
            return value is None or _valid(_INT, value)
        case "bool":
            return type(value) is bool
        case "name":
            return isinstance(value, str) and _NAME.match(value) is not None
        case "token":
            return isinstance(value, str) and _TOKEN.match(value) is not None
        case "host":
            return isinstance(value, str) and _HOST.match(value) is not None
        case "reason":
            return isinstance(value, str) and _REASON.match(value) is not None
        case "text":
            return isinstance(value, str) and len(value) <= 200
        case "frame":
            return isinstance(value, str) and len(value.encode()) <= MAX_MESSAGE_BYTES
        case "ids":
            return (
                isinstance(value, list)
                and len(value) <= MAX_IDS
                and all(_valid(_INT, v) for v in value)
            )
        case "serials":
            return (
                isinstance(value, list)
                and len(value) <= 100
                and all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{1,64}", v) for v in value)
            )
        case "view":
            return isinstance(value, list) and len(value) <= MAX_VIEW_ENTRIES
    return False
