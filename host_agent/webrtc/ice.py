"""The agent's ICE: which local addresses it offers as host candidates, and its peer
connection's STUN/TURN servers and transport policy (from the broker's session start).

By default every interface but loopback (aioice's choice). A clinic that wants media on one
network only (say, the VPN-free office LAN and not a guest Wi-Fi), and our tests and demo,
which run the browser on the same machine, name the addresses explicitly. aioice has no
setting for this, so its host-address discovery is replaced for this process; the agent runs
one process per host, so the choice is process-wide by design.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy

from mamori_protocol import SessionStart


def restrict_host_candidates(addresses: Sequence[str]) -> None:
    """Offer only ``addresses`` as host candidates (IPv4 or IPv6 literals).

    Raises:
        ValueError: an entry is not an IP address literal.
    """
    parsed = [ipaddress.ip_address(a) for a in addresses]
    if not parsed:
        raise ValueError("at least one ICE address is needed")

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            str(a) for a in parsed if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)
        ]

    aioice.ice.get_host_addresses = host_addresses


def offers_loopback() -> bool:
    """Whether this agent offers a loopback host candidate (tests and the demo, with the
    browser on this machine): only then is a loopback remote candidate admitted."""
    try:
        return any(
            ipaddress.ip_address(a).is_loopback for a in aioice.ice.get_host_addresses(True, True)
        )
    except ValueError:
        return False


# Which TURN transport this agent tries (``--turn-transport``): aiortc uses only the first
# TURN URL it is given, so the agent moves the URLs of this transport to the front. None
# keeps the broker's order (broker/turn/servers.py says how to choose it).
_turn_transport: str | None = None
TURN_TRANSPORTS: Final = ("udp", "tcp", "tls")


def prefer_turn_transport(transport: str | None) -> None:
    """Try TURN over ``transport`` (udp, tcp or tls) first; None: the broker's order."""
    global _turn_transport
    if transport is not None and transport not in TURN_TRANSPORTS:
        raise ValueError(f"TURN transport must be one of {TURN_TRANSPORTS}")
    _turn_transport = transport


def _transport_of(url: str) -> str:
    if url.startswith("turns:"):
        return "tls"
    return "tcp" if url.endswith("transport=tcp") else "udp"


def rtc_configuration(start: SessionStart) -> RTCConfiguration:
    """The peer connection's configuration from the broker's session start: its STUN/TURN
    servers (TURN URLs of the preferred transport first) and its policy. aiortc wants the
    enum for the policy (a string raises) and takes the first STUN and first TURN URL."""
    servers = []
    for server in start.ice_servers:
        urls = list(server.urls)
        if _turn_transport is not None:
            urls.sort(
                key=lambda u: (
                    0 if u.startswith("stun") or _transport_of(u) == _turn_transport else 1
                )
            )
        servers.append(
            RTCIceServer(urls=urls, username=server.username, credential=server.credential)
        )
    policy = (
        RTCIceTransportPolicy.RELAY if start.ice_policy == "relay" else RTCIceTransportPolicy.ALL
    )
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)
