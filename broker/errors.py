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
    ├── ApiError             an HTTP request refused; carries status, a stable code, a message
    │   ├── BadRequest       400: well-formed JSON that breaks a rule (weak password, ...)
    │   ├── NotSignedIn      401: no live session, or the session's stage is not enough
    │   ├── Forbidden        403: signed in, but not allowed (role, CSRF, disabled)
    │   ├── NotFound         404: no such object in the caller's organization
    │   ├── Conflict         409: the request contradicts the current state
    │   ├── Locked           429: too many failures; retry after a delay
    │   └── RateLimited      429: too many attempts too fast; retry after a delay
    ├── PasswordRejected     a password breaks the policy (``reason`` for the client)   [V]
    ├── PasskeyRejected      a WebAuthn response that does not verify
    ├── DeviceRefused        a device registration or decision refused (``code``)
    ├── DeviceKeyError       a device key or signature that is not acceptable           [V]
    ├── EnrollmentRefused    an agent enrollment that must not go on (``reason``)
    ├── CaKeyError           a sealed CA key that does not open (wrong MAMORI_SECRET_KEY)
    ├── MigrationError       a schema upgrade that would break the data; rolled back
    ├── DecryptionError      a sealed value tampered with, moved or under another key
    ├── SettingRefused       a clinic setting out of range or inconsistent (``code``)  [V]
    ├── SettingRejected      an alert setting (address, webhook URL) refused             [V]
    ├── DeliveryFailed       one alert delivery attempt failed (retried with backoff)
    └── PurgeRefused         an audit purge that would lose evidence; nothing removed

[V]: also a ValueError, as callers validating input expect.

Wire-format errors live in ``mamori_protocol`` (``ProtocolError``) because the agent shares
them and must not import this module.
"""

from __future__ import annotations

from mamori_protocol import CloseCode


class BrokerError(Exception):
    """Base of every broker error."""


class MigrationError(BrokerError):
    """A schema upgrade that would leave the data inconsistent; it was rolled back."""


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


class Unavailable(RelayError):
    """The broker is shutting down: no new session starts here (come back shortly)."""

    close_code = CloseCode.GOING_AWAY
    code = "unavailable"


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


class RateLimited(Locked):
    """Attempts came faster than the broker takes them (before any password check)."""

    code = "rate_limited"


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


class PasskeyRejected(BrokerError):
    """The browser's response does not verify (wrong origin, challenge, signature, ...)."""


class PasswordRejected(BrokerError, ValueError):
    """A password breaks the policy; ``reason`` is a stable token the client translates."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CaKeyError(BrokerError):
    """A sealed CA key that does not open or is not an ECDSA key (wrong MAMORI_SECRET_KEY)."""


class EnrollmentRefused(BrokerError):
    """An enrollment that must not go on; ``reason`` is a stable token for the audit trail
    and the API's error code, ``org_id`` the organization it concerns, if known."""

    def __init__(self, reason: str, message: str, org_id: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.org_id = org_id


class PurgeRefused(BrokerError):
    """The purge would lose evidence or break the retention rule; nothing was removed."""


class DecryptionError(BrokerError):
    """A sealed value was tampered with, bound to another row, or sealed under another key."""


class SettingRefused(BrokerError, ValueError):
    """A chosen value is out of range or inconsistent; ``code`` names the rule."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class DeviceRefused(BrokerError):
    """A registration or decision that must be refused; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DeviceKeyError(BrokerError, ValueError):
    """A device key or signature that must be refused; the message is safe to audit."""


class SettingRejected(BrokerError, ValueError):
    """A setting an admin typed is refused; ``code`` is the stable token the UI translates."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DeliveryFailed(BrokerError):
    """One attempt failed; ``message`` is short and safe to show the clinic's admin."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message[:300]
        self.permanent = permanent
