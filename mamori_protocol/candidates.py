"""Checks on ICE candidates, shared by the broker (signaling) and the agent (its peer
connection): defence in depth, each hop checks again (DESIGN.md: fail closed).

Why: a remote candidate makes the clinic PC send STUN connectivity checks to that address
and port. Without checks a viewer could trickle thousands of candidates naming 127.0.0.1,
169.254.169.254 or the clinic's LAN and use the PC to probe its own network (issue 12.6).
So a session admits at most ``MAX_REMOTE_CANDIDATES`` remote candidates, and refuses any
whose address is loopback, link-local, unspecified, multicast or broadcast, any that is not
an IP literal (an mDNS ``.local`` name resolves only on the agent's own LAN: resolving
names a viewer chose is the probe we refuse), and, when the clinic says so, private LAN
ranges. IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by that
address (the webhook SSRF lesson, issue 12.4). Under the relay-only policy every candidate
that is not ``typ relay`` is dropped as well: the ends then learn no address of each other.

Sans-I/O, stdlib only, like the rest of ``mamori_protocol``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from mamori_protocol.errors import MalformedMessage

# Chromium gathers a handful per network interface and transport; 50 is far above any
# honest peer (one host, one srflx, a few relays per interface) and far below a probe sweep.
MAX_REMOTE_CANDIDATES: Final = 50

ICE_POLICIES: Final = frozenset({"all", "relay"})

# RFC 1918, RFC 6598 (carrier-grade NAT, shared) and RFC 4193 (unique local IPv6): the ranges
# a clinic LAN uses. Python's ``is_private`` would also count the documentation ranges,
# which are the "internet" of the network tests, so the list is explicit.
PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CANDIDATE_TYPES: Final = frozenset({"host", "srflx", "prflx", "relay"})


class Refusal(Enum):
    """Why a candidate was not admitted. ``probe`` says whether an honest browser never
    sends such a candidate (audit it) or a normal one does (drop it quietly)."""

    MALFORMED = ("malformed", True)
    TOO_MANY = ("too_many", True)
    LOOPBACK = ("loopback", True)
    LINK_LOCAL = ("link_local", True)
    UNSPECIFIED = ("unspecified", True)
    MULTICAST = ("multicast", True)
    RESERVED = ("reserved", True)
    BAD_PORT = ("bad_port", True)
    NOT_AN_ADDRESS = ("not_an_address", False)  # mDNS names: Chromium's default host form
    PRIVATE = ("private", False)  # an honest browser on a home LAN sends these
    NOT_RELAY = ("not_relay", False)  # relay-only policy

    def __init__(self, token: str, probe: bool) -> None:
        self.token = token
        self.probe = probe


@dataclass(frozen=True)
class Candidate:
    """The fields of an ``a=candidate`` line the checks need (RFC 8839 section 5.1)."""

    transport: str
    address: str
    port: int
    type: str


def parse_candidate(line: str) -> Candidate:
    """Parse ``candidate:...`` (as trickled) or ``a=candidate:...`` (as in an SDP).

    Raises:
        MalformedMessage: not a candidate line of the RFC 8839 shape.
    """
    text = line.removeprefix("a=")
    if not text.startswith("candidate:"):
        raise MalformedMessage("not an ICE candidate line")
    parts = text[len("candidate:") :].split()
    # foundation component transport priority address port "typ" type [extensions]
    if len(parts) < 8 or parts[6] != "typ" or parts[7] not in _CANDIDATE_TYPES:
        raise MalformedMessage("ICE candidate line has the wrong shape")
    if not parts[5].isdigit() or len(parts[5]) > 5:
        raise MalformedMessage("ICE candidate port is not a number")
    return Candidate(parts[2].lower(), parts[4], int(parts[5]), parts[7])


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(
    text: str, *, allow_private: bool, allow_loopback: bool = False
) -> Refusal | None:
    """Why ``text`` may not be a remote candidate's address, or None when it may."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(text)
    except ValueError:
        return Refusal.NOT_AN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return Refusal.LINK_LOCAL
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if address.is_unspecified:
        return Refusal.UNSPECIFIED
    if address.is_loopback:
        return None if allow_loopback else Refusal.LOOPBACK
    if address.is_link_local:
        return Refusal.LINK_LOCAL
    if address.is_multicast:
        return Refusal.MULTICAST
    if address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255"):
        return Refusal.RESERVED
    if not allow_private and any(address in net for net in PRIVATE_NETWORKS):
        return Refusal.PRIVATE
    return None


def candidate_refusal(
    candidate: Candidate, *, relay_only: bool, allow_private: bool, allow_loopback: bool = False
) -> Refusal | None:
    """Why ``candidate`` may not be used as a remote candidate, or None when it may."""
    if relay_only and candidate.type != "relay":
        return Refusal.NOT_RELAY
    if not 1 <= candidate.port <= 65535:
        return Refusal.BAD_PORT
    return address_refusal(
        candidate.address, allow_private=allow_private, allow_loopback=allow_loopback
    )


@dataclass
class CandidateBudget:
    """One session's remote candidates, from one peer: at most ``limit`` are looked at,
    each is checked, and the first refusal worth an audit is reported once.

    ``admit`` counts every non-empty candidate it is shown, admitted or not, so a peer
    cannot get past the cap by sending refused ones first.
    """

    relay_only: bool
    allow_private: bool
    allow_loopback: bool = False
    limit: int = MAX_REMOTE_CANDIDATES
    seen: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    first_probe: tuple[Refusal, str] | None = None

    def admit(self, line: str) -> Refusal | None:
        """Check one candidate line; None admits it. Updates the counts."""
        self.seen += 1
        if self.seen > self.limit:
            return self._refuse(Refusal.TOO_MANY, line)
        try:
            candidate = parse_candidate(line)
        except MalformedMessage:
            return self._refuse(Refusal.MALFORMED, line)
        refusal = candidate_refusal(
            candidate,
            relay_only=self.relay_only,
            allow_private=self.allow_private,
            allow_loopback=self.allow_loopback,
        )
        return None if refusal is None else self._refuse(refusal, line)

    def _refuse(self, refusal: Refusal, line: str) -> Refusal:
        self.refused[refusal.token] = self.refused.get(refusal.token, 0) + 1
        if refusal.probe and self.first_probe is None:
            self.first_probe = (refusal, line[:120])
        return refusal

    def summary(self) -> str:
        """The counts, for a log line or an audit detail."""
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.refused.items()))
        return f"seen={self.seen} refused: {counts or 'none'}"


def filter_sdp_candidates(sdp: str, admit: Callable[[str], bool]) -> str:
    """``sdp`` without the ``a=candidate`` lines ``admit`` rejects (line endings kept)."""
    lines = sdp.splitlines(keepends=True)
    kept = [x for x in lines if not x.startswith("a=candidate:") or admit(x.rstrip("\r\n"))]
    return "".join(kept)


def is_relay_line(line: str) -> bool:
    """Whether a candidate line (trickled or from an SDP) is a relay candidate."""
    try:
        return parse_candidate(line).type == "relay"
    except MalformedMessage:
        return False
