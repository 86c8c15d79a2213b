"""Which local addresses the agent offers as ICE host candidates.

By default every interface but loopback (aioice's choice). A clinic that wants media on one
network only (say, the VPN-free office LAN and not a guest Wi-Fi), and our tests and demo,
which run the browser on the same machine, name the addresses explicitly. aioice has no
setting for this, so its host-address discovery is replaced for this process; the agent runs
one process per host, so the choice is process-wide by design.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aioice.ice


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
