"""A network topology as data: namespaces by role, the links between them (veth pairs or
emulated links), routes, NAT and egress filters, and the nftables rulesets for them. Pure:
``devkit/netns.py`` builds it.

Addresses come from the documentation ranges (RFC 5737) and loopback only: ``validate``
refuses any other, so a test cannot send to a real network by a typo.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from devkit.link_model import LinkConfig

# RFC 5737 TEST-NET-1/2/3 and loopback: the only addresses a topology may use.
ALLOWED_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)


@dataclass(frozen=True)
class Veth:
    """A veth pair between two namespaces, with an address (CIDR) on each end."""

    a: str
    a_if: str
    a_addr: str
    b: str
    b_if: str
    b_addr: str


@dataclass(frozen=True)
class Emulated:
    """Two TUN devices joined by the link emulator: like a veth, with delay, loss, rate.

    ``config`` shapes a→b; ``config_back`` b→a (default: the same as ``config``)."""

    a: str
    a_if: str
    a_addr: str
    b: str
    b_if: str
    b_addr: str
    config: LinkConfig = field(default_factory=LinkConfig)
    config_back: LinkConfig | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Route:
    """A route in ``namespace`` through gateway ``via`` (``dev`` for a point-to-point link)."""

    namespace: str
    via: str | None = None
    destination: str = "default"
    dev: str | None = None


@dataclass(frozen=True)
class Masquerade:
    """Source NAT of everything leaving ``namespace`` through ``out_if`` (a home router)."""

    namespace: str
    out_if: str


@dataclass(frozen=True)
class EgressFilter:
    """What a router forwards from its LAN side (``in_if``): only these, plus the replies.

    E.g. ``EgressFilter("home-nat", "lan0", allow_tcp=(443,))``: a hospital network that
    drops all UDP and all TCP except 443."""

    namespace: str
    in_if: str
    allow_tcp: tuple[int, ...] = ()
    allow_udp: tuple[int, ...] = ()
    allow_icmp: bool = False


@dataclass(frozen=True)
class TopologySpec:
    """Namespaces by role, the links between them, routes, NAT and filters.

    Every namespace that masquerades or filters forwards packets; so does any listed in
    ``routers``."""

    namespaces: tuple[str, ...]
    links: tuple[Veth | Emulated, ...] = ()
    routes: tuple[Route, ...] = ()
    masquerade: tuple[Masquerade, ...] = ()
    filters: tuple[EgressFilter, ...] = ()
    routers: tuple[str, ...] = ()
    loopback_addresses: tuple[tuple[str, str], ...] = ()  # (role, CIDR) on ``lo``

    def validate(self) -> None:
        """Refuse unknown roles, duplicate interfaces and addresses outside the test ranges."""
        roles = set(self.namespaces)
        if len(roles) != len(self.namespaces):
            raise ValueError("namespace roles must be unique")
        interfaces: set[tuple[str, str]] = set()
        for link in self.links:
            for role, ifname, addr in (
                (link.a, link.a_if, link.a_addr),
                (link.b, link.b_if, link.b_addr),
            ):
                known_role(role, roles)
                if len(ifname) > 15 or (role, ifname) in interfaces or ifname == "lo":
                    raise ValueError(f"interface {ifname!r} in {role!r}: bad or repeated name")
                interfaces.add((role, ifname))
                check_address(addr)
        for role, addr in self.loopback_addresses:
            known_role(role, roles)
            check_address(addr)
        for route in self.routes:
            known_role(route.namespace, roles)
            if route.via is not None:
                check_address(route.via)
            if route.destination != "default":
                check_address(route.destination)
        for role in (*(m.namespace for m in self.masquerade), *(f.namespace for f in self.filters)):
            known_role(role, roles)
        for role in self.routers:
            known_role(role, roles)

    def forwarding(self) -> set[str]:
        return {
            *self.routers,
            *(m.namespace for m in self.masquerade),
            *(f.namespace for f in self.filters),
        }


def check_address(addr: str) -> None:
    """Raise ``ValueError`` unless ``addr`` (an address or CIDR) is loopback or RFC 5737."""
    net = ipaddress.ip_interface(addr).network
    if net.version != 4:
        raise ValueError(f"{addr}: IPv4 only")
    if not (net.is_loopback or any(net.subnet_of(allowed) for allowed in ALLOWED_NETWORKS)):  # type: ignore[arg-type]
        raise ValueError(f"{addr} is outside the documentation ranges and loopback")


def masquerade_ruleset(out_ifs: Sequence[str]) -> str:
    """An nftables NAT table masquerading what leaves through ``out_ifs``, with the
    endpoint-independent mapping of a home or clinic router (RFC 4787 REQ-1).

    Without the input rule Linux maps endpoint-dependently in exactly the case ICE needs:
    a peer's connectivity check that arrives before our own first packet to that peer
    creates a conntrack entry (router port P <- peer), so our later packet from the same
    socket cannot keep port P and masquerade picks a random one; the peer's srflx
    candidate is then wrong and direct connections across two NATs fail (measured here:
    home port 49677 went out as 25159). Dropping unsolicited packets to the router itself
    in the input hook keeps such entries unconfirmed, so they never claim the port; the
    filtering stays address-and-port dependent, as on real routers. Pings to the router
    are still answered, as most routers do (ICMP claims no port)."""
    rules = "".join(f'    oifname "{name}" masquerade\n' for name in out_ifs)
    drops = "".join(
        f'    iifname "{name}" ip protocol != icmp ct state new drop\n' for name in out_ifs
    )
    return (
        "table ip mamori_nat {\n  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"{rules}  }}\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f"{drops}  }}\n}}\n"
    )


def egress_ruleset(filters: Sequence[EgressFilter]) -> str:
    """An nftables filter forwarding only what ``filters`` allow out of the LAN, and replies.

    The policy is drop: anything not allowed, in either direction, that is not part of a
    connection the LAN opened is dropped (a stateful firewall, as a hospital runs)."""
    rules = ["    ct state established,related accept"]
    for f in filters:
        rules += [f'    iifname "{f.in_if}" tcp dport {p} ct state new accept' for p in f.allow_tcp]
        rules += [f'    iifname "{f.in_if}" udp dport {p} ct state new accept' for p in f.allow_udp]
        if f.allow_icmp:
            rules.append(f'    iifname "{f.in_if}" icmp type echo-request accept')
    body = "\n".join(rules)
    return (
        "table inet mamori_filter {\n  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        f"{body}\n  }}\n}}\n"
    )


def known_role(role: str, roles: set[str]) -> None:
    """Raise ``ValueError`` unless ``role`` is one of ``roles``."""
    if role not in roles:
        raise ValueError(f"unknown namespace role {role!r}")
