"""Exceptions of the broker.

Exception tree::

    BrokerError
    ├── ConfigError          settings missing, malformed or unsafe for this environment
    └── RelayError           a signaling request the relay refuses (carries a close code)
        ├── UnknownHost      no agent is connected for that host id
        ├── HostBusy         the host already has a viewer
        └── NotInSession     a message that needs a session arrived outside one

Wire-format errors live in ``broker.protocol`` (``ProtocolError``) because the agent shares
them and must not import this module.
"""

from __future__ import annotations

from broker.protocol import CloseCode


class BrokerError(Exception):
    """Base of every broker error."""


class ConfigError(BrokerError):
    """The broker refuses to start with these settings."""


class RelayError(BrokerError):
    """A signaling request refused by the relay; sent to the peer as an error + close."""

    close_code: CloseCode = CloseCode.UNEXPECTED
    code: str = "unexpected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownHost(RelayError):
    close_code = CloseCode.UNKNOWN_HOST
    code = "unknown_host"


class HostBusy(RelayError):
    close_code = CloseCode.HOST_BUSY
    code = "host_busy"


class NotInSession(RelayError):
    close_code = CloseCode.UNEXPECTED
    code = "not_in_session"
