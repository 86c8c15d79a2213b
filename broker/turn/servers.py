"""Which STUN and TURN servers each end of a session is told about, and in what order.

``MAMORI_TURN_SERVERS`` lists URLs in the order to try them, for example::

    stun:turn.example.jp:3478 turn:turn.example.jp:3478?transport=udp
    turn:turn.example.jp:3478?transport=tcp turns:turn.example.jp:443?transport=tcp

Browsers try every URL they are given. aiortc (the agent) uses only the first ``stun:`` and
the first ``turn:``/``turns:`` URL it is given, and ``turns:`` only over TCP: so the first
TURN URL is the one every clinic PC uses. Put the one that works from most clinics first
(UDP 3478: the least overhead); a clinic whose router passes only 443 starts its agent with
``--turn-transport tls``, which moves the ``turns:`` URL first for that agent only. Several
regions: list the nearest server's URLs first; each broker can be configured with its own
order.

STUN URLs go out without a credential, TURN URLs as one RTCIceServer carrying the session's
credential (the same credential is good on every server sharing the secret).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from broker.turn.credentials import mint
from mamori_protocol import IceServer

# The URL forms the agent's protocol schema admits (mamori_protocol/ice_servers.py).
_URL = re.compile(
    r"(stun|turn|turns):(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?"
    r"(\?transport=(udp|tcp))?"
)
MAX_URLS = 8


def parse_urls(text: str) -> tuple[str, ...]:
    """``MAMORI_TURN_SERVERS``: URLs separated by spaces or commas, validated.

    Raises:
        ValueError: a URL of another form, ``turns:`` over UDP, or too many.
    """
    urls = tuple(u for u in re.split(r"[\s,]+", text.strip()) if u)
    if len(urls) > MAX_URLS:
        raise ValueError(f"at most {MAX_URLS} URLs")
    for url in urls:
        if not _URL.fullmatch(url):
            raise ValueError(f"not a stun:, turn: or turns: URL: {url[:80]!r}")
        if url.startswith("turns:") and url.endswith("transport=udp"):
            raise ValueError("turns: runs over TCP (TLS); DTLS to TURN is not supported")
    return urls


def ice_servers(
    urls: Sequence[str], secret: str, subject: str, now: datetime, ttl_s: int
) -> tuple[IceServer, ...]:
    """The RTCIceServer list for one end of a session, in ``urls``' order: one entry per
    STUN URL, then one entry with every TURN URL and the session's credential."""
    stun = tuple(IceServer((u,)) for u in urls if u.startswith("stun:"))
    turn = tuple(u for u in urls if u.startswith(("turn:", "turns:")))
    if not turn:
        return stun
    credential = mint(secret, subject, now, ttl_s)
    return (*stun, IceServer(turn, credential.username, credential.password))


class IceServerSource:
    """Mints the ICE server list for a session's subject at the broker's current time."""

    def __init__(
        self, urls: Sequence[str], secret: str, ttl_s: int, now: Callable[[], datetime]
    ) -> None:
        self._urls = tuple(urls)
        self._secret = secret
        self._ttl_s = ttl_s
        self._now = now

    def __call__(self, subject: str) -> tuple[IceServer, ...]:
        return ice_servers(self._urls, self._secret, subject, self._now(), self._ttl_s)
