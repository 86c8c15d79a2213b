"""The shape the reach and networks tests run in: a clinic behind its router's NAT, a
doctor's home behind another, and the internet between them with the broker and coturn.

```
 clinic 192.0.2.10 ── lan0|clinic-nat|wan0 203.0.113.18 ──┐
                        (masquerade)                       │ 203.0.113.17
                                                    internet  (servers on lo: 203.0.113.1)
                                                           │ 203.0.113.33        │ .49
 home 198.51.100.10 ─── lan0|home-nat|wan0 203.0.113.34 ───┘                     │
      198.51.100.138 ── lan0|lte-nat|wan0 203.0.113.50 ──────────────────────────┘
      (second uplink: ``network_change`` moves home's default route onto it)
```

All addresses are RFC 5737 documentation addresses, inside the test's namespaces only.
The home's and the clinic's access links (host ↔ its router) can be emulated links
(delay, loss, rate, outages); either router can filter like a hospital network (only TCP
443 out). The internet has no route to either LAN: only the NATs' public addresses are
reachable from it, as on the real internet.
"""

from __future__ import annotations

from dataclasses import dataclass

from devkit.link_model import LinkConfig
from devkit.netns import Topology
from devkit.topology import EgressFilter, Emulated, Masquerade, Route, TopologySpec, Veth

CLINIC, CLINIC_NAT, INTERNET, HOME_NAT, HOME, LTE_NAT = (
    "clinic",
    "clinic-nat",
    "internet",
    "home-nat",
    "home",
    "lte-nat",
)


@dataclass(frozen=True)
class Addresses:
    """Where everything is (no prefix lengths)."""

    server: str = "203.0.113.1"  # the internet's own services (broker, coturn, echo)
    clinic: str = "192.0.2.10"
    clinic_gateway: str = "192.0.2.1"
    clinic_public: str = "203.0.113.18"
    home: str = "198.51.100.10"
    home_gateway: str = "198.51.100.1"
    home_public: str = "203.0.113.34"
    home_lte: str = "198.51.100.138"
    lte_gateway: str = "198.51.100.129"
    lte_public: str = "203.0.113.50"


ADDRESSES = Addresses()


def clinic_and_home(
    home_link: LinkConfig | None = None,
    home_link_back: LinkConfig | None = None,
    home_egress_tcp: tuple[int, ...] | None = None,
    clinic_egress_tcp: tuple[int, ...] | None = None,
    seed: int | None = None,
    clinic_link: LinkConfig | None = None,
    clinic_link_back: LinkConfig | None = None,
) -> TopologySpec:
    """The spec above.

    Args:
        home_link: emulate the home's access link, shaping home → router with this (and
            router → home with ``home_link_back``, default the same); ``None``: a plain veth.
        home_egress_tcp: the home router forwards only these TCP ports out (and replies);
            ``(443,)`` is a hospital that drops all UDP and all TCP but 443.
        clinic_egress_tcp: the same for the clinic's router.
        seed: the emulators' random seed (reproducible loss).
        clinic_link: emulate the clinic PC's link to its router the same way (a thin
            clinic uplink); ``clinic_link_back`` shapes router → clinic.
    """
    a = ADDRESSES
    home_access = _access(HOME, a.home, HOME_NAT, a.home_gateway, home_link, home_link_back, seed)
    # Another seed for the clinic's emulator: the two links must not lose the same packets.
    clinic_seed = None if seed is None else seed + 1
    clinic_access = _access(
        CLINIC, a.clinic, CLINIC_NAT, a.clinic_gateway, clinic_link, clinic_link_back, clinic_seed
    )
    filters = []
    if home_egress_tcp is not None:
        filters.append(EgressFilter(HOME_NAT, "lan0", allow_tcp=home_egress_tcp))
    if clinic_egress_tcp is not None:
        filters.append(EgressFilter(CLINIC_NAT, "lan0", allow_tcp=clinic_egress_tcp))
    return TopologySpec(
        namespaces=(CLINIC, CLINIC_NAT, INTERNET, HOME_NAT, HOME, LTE_NAT),
        links=(
            clinic_access,
            Veth(
                CLINIC_NAT, "wan0", f"{a.clinic_public}/28", INTERNET, "clinic0", "203.0.113.17/28"
            ),
            home_access,
            Veth(HOME_NAT, "wan0", f"{a.home_public}/28", INTERNET, "home0", "203.0.113.33/28"),
            Veth(HOME, "lte0", f"{a.home_lte}/25", LTE_NAT, "lan0", f"{a.lte_gateway}/25"),
            Veth(LTE_NAT, "wan0", f"{a.lte_public}/28", INTERNET, "lte0", "203.0.113.49/28"),
        ),
        routes=(
            Route(CLINIC, a.clinic_gateway),
            Route(CLINIC_NAT, "203.0.113.17"),
            Route(HOME, a.home_gateway),
            Route(HOME_NAT, "203.0.113.33"),
            Route(LTE_NAT, "203.0.113.49"),
        ),
        masquerade=(
            Masquerade(CLINIC_NAT, "wan0"),
            Masquerade(HOME_NAT, "wan0"),
            Masquerade(LTE_NAT, "wan0"),
        ),
        filters=tuple(filters),
        routers=(INTERNET,),
        loopback_addresses=((INTERNET, f"{a.server}/32"),),
    )


def _access(
    host: str,
    address: str,
    router: str,
    gateway: str,
    config: LinkConfig | None,
    config_back: LinkConfig | None,
    seed: int | None,
) -> Veth | Emulated:
    """A host's link to its router (eth0 ↔ lan0): a veth, or emulated when shaped. The LAN
    prefix is /24 for the clinic's 192.0.2.0 and /25 for the home's 198.51.100.0 (the
    other half is the LTE network)."""
    prefix = 24 if address.startswith("192.0.2.") else 25
    ends = (host, "eth0", f"{address}/{prefix}", router, "lan0", f"{gateway}/{prefix}")
    if config is None:
        return Veth(*ends)
    return Emulated(*ends, config, config_back, seed)


async def network_change(topo: Topology, to_lte: bool = True, wifi_gone: bool = False) -> None:
    """Move the home's default route to the second uplink (``to_lte``) or back: new local
    and public addresses, as when a laptop leaves the Wi-Fi for a phone's network.

    With the route moved alone, the old uplink still delivers what arrives for the home's
    old public address (media keeps coming in; only what the home sends takes the new
    way). ``wifi_gone``: the old uplink's interface goes down and loses its address too,
    as when the laptop walks out of the Wi-Fi's range (the browser hears of the address
    going, as of any network change, and drops its pooled connections: with the address
    kept, a request on a pooled connection to the broker could hang); ``to_lte=False``
    brings it back."""
    if to_lte:
        await topo.set_default_route(HOME, ADDRESSES.lte_gateway, "lte0")
        if wifi_gone:
            await topo.exec(HOME, "ip", "link", "set", "eth0", "down")
            await topo.exec(HOME, "ip", "address", "flush", "dev", "eth0")
    else:
        wifi = f"{ADDRESSES.home}/25"
        await topo.exec(HOME, "ip", "address", "replace", wifi, "dev", "eth0")
        await topo.exec(HOME, "ip", "link", "set", "eth0", "up")
        await topo.set_default_route(HOME, ADDRESSES.home_gateway, "eth0")


# Where the internet namespace sends what is addressed to a LAN: a neighbour nobody answers
# for, on a veth pair both ends of which stay in that namespace (this kernel has no dummy
# device). RFC 5737, outside every link's subnet.
SINK_GATEWAY = "203.0.113.254"


async def silent_lan_routes(topo: Topology) -> None:
    """Make packets from the internet to either LAN's private range vanish silently, as on
    the real internet (routed towards some default gateway and dropped far away), instead
    of failing at once with "network unreachable" for want of a route.

    It matters for TURN: coturn relaying a TCP or TLS client's data to a peer address whose
    send fails at once (ICE checks towards the other side's host candidate) closes that
    client's whole session, so a viewer or agent on TURN/TLS lost its relay seconds after
    connecting (the 443-only home under policy all, and the 443-only clinic). Real servers
    deny private peers with 403 (``denied-peer-ip``) or see the packets dropped silently."""
    await topo.exec(INTERNET, "ip", "link", "add", "sink0", "type", "veth", "peer", "name", "sink1")
    for ifname in ("sink0", "sink1"):
        await topo.exec(INTERNET, "ip", "link", "set", ifname, "up")
    await topo.exec(
        INTERNET, "ip", "neigh", "add", SINK_GATEWAY, "lladdr", "02:00:00:00:00:01",
        "dev", "sink0", "nud", "permanent",
    )  # fmt: skip
    for lan in ("192.0.2.0/24", "198.51.100.0/24"):  # the clinic's and the home's (both uplinks)
        await topo.exec(
            INTERNET, "ip", "route", "add", lan, "via", SINK_GATEWAY, "dev", "sink0", "onlink"
        )
