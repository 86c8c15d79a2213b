"""Close codes and the exception tree of the signaling protocol (see ``mamori_protocol``)."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """WebSocket close codes the broker uses; 4xxx mirror HTTP where one fits."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    # The broker restarts: keep the session's media, reconnect (mamori_protocol/resume.py).
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    MALFORMED = 4400
    UNAUTHORIZED = 4401
    POLICY_VIOLATION = 4403
    UNKNOWN_HOST = 4404
    UNEXPECTED = 4405
    HOST_BUSY = 4409
    HOST_DISCONNECTED = 4410
    HOST_ID_TAKEN = 4412
    UNKNOWN_TYPE = 4415


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


class SdpPolicyError(ValueError):
    """A session description Mamori will not negotiate; the message says why."""
