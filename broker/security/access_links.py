"""One-time access links and the browser sessions they open.

Stand-in for accounts and MFA until the identity issue lands: the operator (the demo) gets a
single-use link; opening it sets an HttpOnly session cookie and the link is spent. Tokens are
kept only as SHA-256 digests so a memory dump does not hand out live links.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

SESSION_COOKIE = "mamori_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessLinks:
    """Issues one-time links and validates the sessions they start."""

    def __init__(
        self, link_ttl_s: int, session_ttl_s: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._link_ttl_s = link_ttl_s
        self._session_ttl_s = session_ttl_s
        self._clock = clock
        self._links: dict[str, float] = {}  # digest -> expiry
        self._sessions: dict[str, float] = {}  # digest -> expiry

    def issue_link_token(self) -> str:
        """A new single-use token for ``/access/{token}``."""
        token = secrets.token_urlsafe(32)
        self._links[_digest(token)] = self._clock() + self._link_ttl_s
        return token

    def redeem(self, link_token: str) -> str | None:
        """Spend a link token; returns a new session token, or None if unknown/spent/expired."""
        expiry = self._links.pop(_digest(link_token), None)
        if expiry is None or expiry < self._clock():
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[_digest(session)] = self._clock() + self._session_ttl_s
        return session

    def session_valid(self, session_token: str | None) -> bool:
        """True while the session token exists and has not reached its absolute lifetime."""
        if not session_token or len(session_token) > 128:
            return False
        key = _digest(session_token)
        expiry = self._sessions.get(key)
        if expiry is None:
            return False
        if expiry < self._clock():
            del self._sessions[key]
            return False
        return True
