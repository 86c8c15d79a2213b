"""The ICE servers a session start carries to the agent: a closed, size-limited shape.

On the wire ``ice_servers`` is a list of objects ``{"urls": [...], "username": ...,
"credential": ...}`` as RTCIceServer takes them. The broker builds it (broker/turn); the
agent must still refuse anything else: a URL scheme other than stun/turn/turns, a host that
is not a plain name or address, too many servers or URLs, control characters.
Part of ``mamori_protocol``: stdlib only, sans-I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mamori_protocol.errors import MalformedMessage

MAX_ICE_SERVERS: Final = 8
MAX_URLS_PER_SERVER: Final = 8
MAX_URL_CHARS: Final = 256
MAX_CREDENTIAL_CHARS: Final = 128
# RFC 7064/7065 URIs: scheme, host (name, IPv4 or [IPv6]), optional port, optional transport.
_URL = re.compile(
    r"(stun|stuns|turn|turns):(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})"
    r"(:[0-9]{1,5})?(\?transport=(udp|tcp))?"
)
_PRINTABLE = re.compile(r"[\x21-\x7e]{1," + str(MAX_CREDENTIAL_CHARS) + "}")
_FIELDS: Final = frozenset({"urls", "username", "credential"})


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server as RTCIceServer takes it; TURN with a time-limited
    credential (broker/turn), STUN without one."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def ice_servers_from_wire(kind: str, value: object) -> tuple[IceServer, ...]:
    """Validate the wire form (a list of objects, or what ``asdict`` made of IceServers)
    and return it as IceServers.

    Raises:
        MalformedMessage: anything outside the shape in the module docstring.
    """
    if not isinstance(value, list | tuple) or len(value) > MAX_ICE_SERVERS:
        raise MalformedMessage(f"{kind}.ice_servers must be a list of at most {MAX_ICE_SERVERS}")
    servers = []
    for item in value:
        if isinstance(item, IceServer):
            item = {"urls": list(item.urls), "username": item.username,
                    "credential": item.credential}  # fmt: skip
        if not isinstance(item, dict) or not set(item) <= _FIELDS or "urls" not in item:
            raise MalformedMessage(
                f"{kind}.ice_servers: each server is {{urls, username, credential}}"
            )
        urls = item["urls"]
        if not isinstance(urls, list | tuple) or not 1 <= len(urls) <= MAX_URLS_PER_SERVER:
            raise MalformedMessage(f"{kind}.ice_servers: 1..{MAX_URLS_PER_SERVER} urls per server")
        for url in urls:
            if not isinstance(url, str) or len(url) > MAX_URL_CHARS or not _URL.fullmatch(url):
                raise MalformedMessage(f"{kind}.ice_servers: not a STUN or TURN url")
        secrets = [item.get("username"), item.get("credential")]
        for text in secrets:
            if text is not None and (not isinstance(text, str) or not _PRINTABLE.fullmatch(text)):
                raise MalformedMessage(f"{kind}.ice_servers: bad username or credential")
        servers.append(IceServer(tuple(urls), secrets[0], secrets[1]))
    return tuple(servers)
