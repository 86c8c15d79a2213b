"""Field validators of the signaling schema: one function per field name, shared by every
message type that carries the field. Part of ``mamori_protocol``: stdlib only, sans-I/O."""

from __future__ import annotations

import re
from typing import Final

from mamori_protocol.errors import MalformedMessage
from mamori_protocol.text_input import TextEntry

MAX_SDP_CHARS: Final = 60_000
MAX_CANDIDATE_CHARS: Final = 1024
MAX_NAME_CHARS: Final = 100
MAX_ERROR_MESSAGE_CHARS: Final = 200
MAX_MLINE_INDEX: Final = 15
MAX_ORGANIZATION_CHARS: Final = 200
MAX_SESSION_SECONDS: Final = 7 * 24 * 3600

_HOST_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,32}")
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Account names as the broker stores them (broker.identity.accounts.USERNAME_PATTERN).
_VIEWER_ID = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
# A session's resume secret (mamori_protocol/resume.py): 32 bytes, URL-safe base64.
_RESUME_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_SDP_MID = re.compile(r"[A-Za-z0-9_.-]{0,32}")
# IANA zone names as the broker offers them (broker/access/zones.py): Asia/Tokyo, Etc/GMT+9.
_TIME_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")
MAX_TIME_ZONE_CHARS: Final = 64
# Control characters other than CR/LF/TAB never belong in signaling text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


def _optional_flag(kind: str, name: str, value: object) -> None:
    if value is not None:
        _flag(kind, name, value)


def _resume_token(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=43, pattern=_RESUME_TOKEN)


def _viewer_id(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=64, pattern=_VIEWER_ID)


def _organization(kind: str, name: str, value: object) -> None:
    _text(kind, name, value, limit=MAX_ORGANIZATION_CHARS, pattern=None)
    if isinstance(value, str) and ("\n" in value or "\r" in value or "\t" in value):
        raise MalformedMessage(f"{kind}.{name} must be one line")


def _time_zone(kind: str, name: str, value: object) -> None:
    if value is not None:
        _text(kind, name, value, limit=MAX_TIME_ZONE_CHARS, pattern=_TIME_ZONE)


def _flag(kind: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise MalformedMessage(f"{kind}.{name} must be true or false")


def _seconds(kind: str, name: str, value: object) -> None:
    # bool is an int in Python; JSON true must not pass as one second.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"{kind}.{name} must be an integer")
    if not 0 <= value <= MAX_SESSION_SECONDS:
        raise MalformedMessage(f"{kind}.{name} must be 0..{MAX_SESSION_SECONDS}")


def _text_entry(kind: str, name: str, value: object) -> None:
    if value not in _TEXT_ENTRIES:
        raise MalformedMessage(f"{kind}.{name} must be one of {sorted(_TEXT_ENTRIES)}")


_TEXT_ENTRIES: Final = frozenset(mode.value for mode in TextEntry)


def _ice_servers(kind: str, name: str, value: object) -> None:
    # The shape was checked while building (mamori_protocol/ice_servers.py); this only
    # holds the field to the type that check produced.
    if not isinstance(value, tuple):
        raise MalformedMessage(f"{kind}.{name} must be a list")


def _ice_policy(kind: str, name: str, value: object) -> None:
    if value not in ("all", "relay"):
        raise MalformedMessage(f"{kind}.{name} must be all or relay")


VALIDATORS: Final = {
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
    "viewer_name": _display_name,
    "viewer_id": _viewer_id,
    "organization": _organization,
    "watermark": _flag,
    "block_local_input": _flag,
    "end_on_violation": _flag,
    "view_only": _flag,
    "time_zone": _time_zone,
    "text_entry": _text_entry,
    "idle_s": _seconds,
    "max_s": _seconds,
    "seconds_left": _seconds,
    "violation": _token,
    "detail": _error_message,
    "ice_servers": _ice_servers,
    "ice_policy": _ice_policy,
    "lan_candidates": _flag,
    "elapsed_s": _seconds,
    "token": _resume_token,
    "resume": _optional_flag,
}
