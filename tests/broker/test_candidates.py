"""Remote ICE candidate checks (mamori_protocol/candidates.py) with plain data."""

from __future__ import annotations

import pytest

from mamori_protocol.candidates import (
    MAX_REMOTE_CANDIDATES,
    CandidateBudget,
    Refusal,
    address_refusal,
    filter_sdp_candidates,
    parse_candidate,
)

pytestmark = pytest.mark.unit


def line(address: str, typ: str = "host", port: int = 50000) -> str:
    return f"candidate:1 1 udp 2122260223 {address} {port} typ {typ}"


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("127.0.0.1", Refusal.LOOPBACK),
        ("127.8.9.10", Refusal.LOOPBACK),
        ("::1", Refusal.LOOPBACK),
        ("::ffff:127.0.0.1", Refusal.LOOPBACK),
        ("64:ff9b::7f00:1", Refusal.LOOPBACK),  # NAT64 form of 127.0.0.1
        ("2002:7f00:1::1", Refusal.LOOPBACK),  # 6to4 form of 127.0.0.1
        ("169.254.169.254", Refusal.LINK_LOCAL),  # cloud metadata
        ("64:ff9b::a9fe:a9fe", Refusal.LINK_LOCAL),
        ("fe80::1", Refusal.LINK_LOCAL),
        ("fe80::1%eth0", Refusal.LINK_LOCAL),
        ("0.0.0.0", Refusal.UNSPECIFIED),
        ("::", Refusal.UNSPECIFIED),
        ("224.0.0.251", Refusal.MULTICAST),
        ("ff02::1", Refusal.MULTICAST),
        ("255.255.255.255", Refusal.RESERVED),
        ("240.0.0.1", Refusal.RESERVED),
        ("3c5a1f2e-0b7d-4c8e-9f61-2a0d5e7b9c11.local", Refusal.NOT_AN_ADDRESS),
        ("10.1.2.3", Refusal.PRIVATE),
        ("172.16.0.9", Refusal.PRIVATE),
        ("192.168.1.20", Refusal.PRIVATE),
        ("100.64.0.1", Refusal.PRIVATE),
        ("fd00::5", Refusal.PRIVATE),
        ("::ffff:192.168.1.20", Refusal.PRIVATE),
    ],
)
def test_addresses_a_clinic_pc_must_not_probe_are_refused(address: str, refusal: Refusal) -> None:
    """Loopback, link-local, unspecified, multicast, broadcast, names and (when the clinic
    refuses LAN ranges) private addresses, in IPv4-embedding IPv6 forms too."""
    assert address_refusal(address, allow_private=False) is refusal


@pytest.mark.parametrize("address", ["203.0.113.34", "198.51.100.10", "8.8.8.8", "2001:db8::1"])
def test_public_addresses_are_admitted(address: str) -> None:
    """Public and documentation addresses pass, with LAN ranges refused or not."""
    assert address_refusal(address, allow_private=False) is None
    assert address_refusal(address, allow_private=True) is None


def test_private_ranges_pass_when_the_clinic_allows_them() -> None:
    """The clinic's setting decides LAN ranges; loopback stays refused unless allowed."""
    assert address_refusal("192.168.1.20", allow_private=True) is None
    assert address_refusal("127.0.0.1", allow_private=True) is Refusal.LOOPBACK
    assert address_refusal("127.0.0.1", allow_private=True, allow_loopback=True) is None


def test_the_budget_caps_counts_and_reports_the_first_probe_once() -> None:
    """At most the limit is admitted, refused ones count towards it, and the first refusal
    an honest browser never causes is kept for the (single) audit record."""
    budget = CandidateBudget(relay_only=False, allow_private=True)
    assert budget.admit(line("192.168.1.5")) is None
    assert budget.admit(line("x.local")) is Refusal.NOT_AN_ADDRESS
    assert budget.first_probe is None  # mDNS names are what Chromium sends by default
    assert budget.admit(line("127.0.0.1")) is Refusal.LOOPBACK
    assert budget.first_probe is not None
    assert budget.first_probe[0] is Refusal.LOOPBACK
    assert budget.admit(line("169.254.169.254")) is Refusal.LINK_LOCAL
    assert budget.first_probe[0] is Refusal.LOOPBACK
    admitted = sum(budget.admit(line("203.0.113.34", port=1000 + i)) is None for i in range(3000))
    assert admitted == MAX_REMOTE_CANDIDATES - 4
    assert budget.refused["too_many"] == 3000 - admitted
    assert "too_many=" in budget.summary()


def test_relay_only_drops_everything_but_relay_candidates() -> None:
    """Under the relay policy host, srflx and prflx candidates are refused."""
    budget = CandidateBudget(relay_only=True, allow_private=True)
    for typ in ("host", "srflx", "prflx"):
        assert budget.admit(line("203.0.113.34", typ)) is Refusal.NOT_RELAY
    assert budget.admit(line("203.0.113.1", "relay")) is None


@pytest.mark.parametrize(
    "text",
    ["candidate:1 1 udp 1 1.2.3.4", "candidate:1 1 udp 1 1.2.3.4 x typ host", "nonsense",
     "candidate:1 1 udp 1 1.2.3.4 5 typ bogus", "candidate:1 1 udp 1 1.2.3.4 99999 typ host"],
)  # fmt: skip
def test_malformed_candidates_are_refused(text: str) -> None:
    """A line not of the RFC 8839 shape (or with port 0 / >65535) is not admitted."""
    budget = CandidateBudget(relay_only=False, allow_private=True)
    assert budget.admit(text) in {Refusal.MALFORMED, Refusal.BAD_PORT}


def test_sdp_candidate_lines_are_filtered_and_the_rest_kept() -> None:
    """Only the a=candidate lines the check rejects leave the SDP."""
    sdp = (
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        f"a={line('127.0.0.1')}\r\na={line('203.0.113.1', 'relay')}\r\na=end-of-candidates\r\n"
    )
    out = filter_sdp_candidates(sdp, lambda x: parse_candidate(x).type == "relay")
    assert "127.0.0.1" not in out
    assert "typ relay" in out
    assert out.endswith("end-of-candidates\r\n")
