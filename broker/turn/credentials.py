"""TURN REST credentials (draft-uberti-behave-turn-rest, coturn's ``use-auth-secret``).

The broker and coturn share one secret; the broker mints, per remote session, a
credential nobody else can: ``username = "<expiry>:<session id>"`` and ``password =
base64(HMAC-SHA1(secret, username))``. coturn recomputes the password from the username and
refuses a new allocation once ``expiry`` (Unix seconds) has passed, so the secret never
leaves the broker and a credential that leaks is good only until its expiry
(``MAMORI_TURN_CREDENTIAL_TTL_S``, 5 minutes by default: a few minutes longer than the
30-second ticket, so a slow start still allocates; an allocation made in time lives on
through its refreshes, which coturn checks against the allocation's own key).
HMAC-SHA1 is what coturn checks (the draft's choice), not ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TurnCredential:
    """A time-limited TURN credential; ``expires_at`` in Unix seconds."""

    username: str
    password: str
    expires_at: int


def password_for(secret: str, username: str) -> str:
    """coturn's password for ``username`` under ``secret``."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def mint(secret: str, subject: str, now: datetime, ttl_s: int) -> TurnCredential:
    """A credential for ``subject`` (a session id: coturn logs it, so a relay in its log
    names the session in our audit) valid ``ttl_s`` seconds from ``now``."""
    if ":" in subject:
        raise ValueError("the subject must not contain ':' (it ends the expiry)")
    expires_at = int(now.timestamp()) + ttl_s
    username = f"{expires_at}:{subject}"
    return TurnCredential(username, password_for(secret, username), expires_at)
