"""Where a webhook may be posted: the address rules and the one resolution a post uses.

A broker hosted for many clinics must not become a tool for reaching its own network
(SSRF). Two attacks shaped this module (issue 12, item 4):

- *DNS rebinding*: checking a name's addresses and then letting the HTTP client resolve it
  again lets a name answer a public address to the check and 127.0.0.1 to the client. So a
  delivery resolves once (``resolve_checked``), every answer must pass, and the client
  dials exactly the checked address (the caller keeps the name for TLS SNI, certificate
  checking and ``Host``).
- *IPv4 hidden in IPv6*: ``::ffff:127.0.0.1``, NAT64 ``64:ff9b::a9fe:a9fe`` (169.254.169.254),
  ``::127.0.0.1`` (IPv4-compatible) and 6to4 ``2002:7f00:1::1`` lead to an IPv4 address that
  the IPv6 address's own class does not show. Each embedded address is judged as what it
  is; Teredo and the local-use NAT64 prefix, where it cannot be judged, are refused.

Rules: public addresses always; loopback only with the development setting; the LAN ranges
(RFC 1918, unique-local ``fc00::/7``) only where the operator allows private destinations
(an on-premises broker posting into the clinic's LAN); link-local (cloud metadata),
multicast, reserved, "this network" and unspecified addresses never.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from broker.errors import DeliveryFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name stands for, as text (zone ids allowed).
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Answers beyond this are not looked at: a name is refused rather than half-checked.
MAX_ANSWERS: Final = 32

_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
# RFC 8215 local-use translation prefix: where the IPv4 sits depends on the local
# prefix length, which the broker cannot know, so it is refused whole.
_NAT64_LOCAL: Final = ipaddress.ip_network("64:ff9b:1::/48")
_TRANSLATED: Final = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 SIIT
_COMPATIBLE: Final = ipaddress.ip_network("::/96")  # RFC 4291 IPv4-compatible (deprecated)
_THIS_NETWORK: Final = ipaddress.ip_network("0.0.0.0/8")  # Linux dials 0.x as loopback
_LAN: Final = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)


@dataclass(frozen=True)
class WebhookPolicy:
    """Which webhook destinations the broker's operator allows (broker settings)."""

    loopback_http: bool = False
    private: bool = False


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address leads to, or None when it carries none.

    An empty list means "a translation form whose IPv4 cannot be known" (refused).
    """
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    packed = address.packed
    if address in _TRANSLATED or address in _NAT64:
        return [ipaddress.IPv4Address(packed[12:])]
    if address in _NAT64_LOCAL:
        return []
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        # A tunnel to whatever IPv4 host the (obfuscated) client field names, through a
        # relay the broker does not choose: no receiver needs it, so it is refused whole.
        return []
    if address in _COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return [ipaddress.IPv4Address(packed[12:])]
    return None


def address_allowed(address: IPAddress, policy: WebhookPolicy) -> bool:
    """Whether the broker may post to ``address`` (every IPv4 inside it must pass too)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return bool(inner) and all(_plain_allowed(a, policy) for a in inner)
    return _plain_allowed(address, policy)


def _plain_allowed(address: IPAddress, policy: WebhookPolicy) -> bool:
    if address.is_loopback:
        # Only the development setting: an on-premises broker's own loopback holds its
        # database, Redis and admin ports, never a clinic's receiver.
        return policy.loopback_http
    if (
        address.is_unspecified
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address in _THIS_NETWORK
    ):
        return False
    if any(address in net for net in _LAN):
        return policy.private
    return address.is_global


def parse_answer(text: str) -> IPAddress:
    """One resolver answer as an address (a zone id only marks link-local, refused anyway)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo``), TCP answers only."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(
    host: str, port: int, policy: WebhookPolicy, resolver: Resolver
) -> IPAddress:
    """Resolve ``host`` once and return the address to dial; every answer must be allowed.

    Raises:
        DeliveryFailed: permanent when any answer is not allowed (a name that mixes a public
            address with an internal one is refused whole); retryable when the name does not
            resolve now.
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        answers = [literal]
    else:
        try:
            texts = await resolver(host, port)
        except OSError as exc:
            raise DeliveryFailed(f"cannot resolve {host[:100]}") from exc
        if not texts:
            raise DeliveryFailed(f"cannot resolve {host[:100]}")
        if len(texts) > MAX_ANSWERS:
            raise DeliveryFailed("the webhook name has too many addresses", permanent=True)
        try:
            answers = [parse_answer(text) for text in texts]
        except ValueError as exc:
            raise DeliveryFailed("the resolver gave a malformed address") from exc
    if not all(address_allowed(a, policy) for a in answers):
        raise DeliveryFailed("the webhook address is not allowed", permanent=True)
    return answers[0]
