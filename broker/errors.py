"""Exceptions of the broker.

Exception tree::

    BrokerError
    ├── ConfigError          settings missing, malformed or unsafe for this environment
    ├── RelayError           a signaling request the relay refuses (carries a close code)
    │   ├── UnknownHost      no agent of the viewer's organization is connected for that id
    │   ├── HostBusy         the host already has a viewer
    │   ├── NotInSession     a message that needs a session arrived outside one
    │   ├── PolicyRefused    a session description the pixel-only policy refuses
    │   └── AccessRefused    no grant, outside the grant's window, or no vendor approval
    └── ApiError             an HTTP request refused; carries status, a stable code, a message
        ├── BadRequest       400: well-formed JSON that breaks a rule (weak password, ...)
        ├── NotSignedIn      401: no live session, or the session's stage is not enough
        ├── Forbidden        403: signed in, but not allowed (role, CSRF, disabled)
        ├── NotFound         404: no such object in the caller's organization
        ├── Conflict         409: the request contradicts the current state
        └── Locked           429: too many failures; retry after a delay

``broker.secretbox.DecryptionError`` stays beside the cipher it belongs to.

Wire-format errors live in ``mamori_protocol`` (``ProtocolError``) because the agent shares
them and must not import this module.
"""

from __future__ import annotations

from mamori_protocol import CloseCode


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


class ApiError(BrokerError):
    """An HTTP request refused: answered as ``{"error": code, "message": message}``.

    ``code`` is a stable token the web client translates; ``message`` is English for logs and
    API users. Neither ever says whether an account exists.
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class NotSignedIn(ApiError):
    status = 401
    code = "not_signed_in"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Locked(ApiError):
    status = 429
    code = "locked"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PolicyRefused(RelayError):
    close_code = CloseCode.POLICY_VIOLATION
    code = "policy_violation"


class AccessRefused(RelayError):
    """The viewer may not open this host now; ``code`` says why (``no_grant``,
    ``outside_window``, ``vendor_not_approved``: broker/access/grants.py Refusal)."""

    close_code = CloseCode.POLICY_VIOLATION

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
