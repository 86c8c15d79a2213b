"""Topology specs refuse what could reach a real network (any address outside the
documentation ranges and loopback) and produce the nftables rules they describe."""

from __future__ import annotations

import pytest

from devkit.internet import ADDRESSES, clinic_and_home
from devkit.link_model import LinkConfig
from devkit.topology import (
    EgressFilter,
    Emulated,
    Masquerade,
    Route,
    TopologySpec,
    Veth,
    check_address,
    egress_ruleset,
    masquerade_ruleset,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "addr",
    ["192.0.2.1", "192.0.2.0/24", "198.51.100.255/32", "203.0.113.7/28", "127.0.0.1/8"],
)
def test_documentation_and_loopback_addresses_pass(addr: str) -> None:
    """RFC 5737's three ranges and loopback are accepted."""
    check_address(addr)


@pytest.mark.parametrize(
    "addr",
    [
        "10.0.0.1/8",
        "172.16.0.1/12",
        "192.168.1.1/24",
        "8.8.8.8",
        "198.51.101.1/24",  # just past TEST-NET-2
        "192.0.2.1/23",  # an address inside, a network that is not
        "203.0.112.255",
        "2001:db8::1/64",  # documentation, but IPv6 is not built
    ],
)
def test_any_other_address_is_refused(addr: str) -> None:
    """Private, public and neighbouring ranges are refused, as is a prefix that spills out."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the address
        check_address(addr)


def veth(a_addr: str = "192.0.2.1/24", b_if: str = "eth0") -> Veth:
    return Veth("a", "eth0", a_addr, "b", b_if, "192.0.2.2/24")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TopologySpec(namespaces=("a", "a")), "unique"),
        (TopologySpec(namespaces=("a",), links=(veth(),)), "unknown namespace role 'b'"),
        (TopologySpec(namespaces=("a", "b"), links=(veth("10.1.2.3/24"),)), "outside"),
        (TopologySpec(namespaces=("a", "b"), links=(veth(b_if="x" * 16),)), "bad or repeated"),
        (TopologySpec(namespaces=("a", "b"), links=(veth(), veth())), "bad or repeated"),
        (TopologySpec(namespaces=("a", "b"), routes=(Route("a", "192.168.0.1"),)), "outside"),
        (TopologySpec(namespaces=("a", "b"), masquerade=(Masquerade("c", "eth0"),)), "'c'"),
        (
            TopologySpec(namespaces=("a",), loopback_addresses=(("a", "100.64.0.1/32"),)),
            "outside",
        ),
    ],
)
def test_bad_specs_are_refused(spec: TopologySpec, message: str) -> None:
    """Repeated roles or interfaces, unknown roles and foreign addresses fail validation."""
    with pytest.raises(ValueError, match=message):
        spec.validate()


def test_the_clinic_home_shape_is_valid_and_private() -> None:
    """The standard shape validates in every variant, the internet routes into no LAN, and
    the routers that NAT or filter forward packets."""
    for spec in (
        clinic_and_home(),
        clinic_and_home(home_link=LinkConfig(delay=0.03), home_egress_tcp=(443,)),
        clinic_and_home(clinic_egress_tcp=(443,), clinic_link=LinkConfig(rate_bps=2e6)),
    ):
        spec.validate()
        assert [r for r in spec.routes if r.namespace == "internet"] == []
        assert {"clinic-nat", "home-nat", "lte-nat", "internet"} <= spec.forwarding()
        assert "home" not in spec.forwarding()
    assert ADDRESSES.server == "203.0.113.1"


def test_egress_filter_rules_allow_only_the_listed_ports_and_replies() -> None:
    """A 443-only router: drop by default, replies accepted, one rule for new TCP 443."""
    rules = egress_ruleset([EgressFilter("home-nat", "lan0", allow_tcp=(443,))])
    assert "policy drop;" in rules
    assert "ct state established,related accept" in rules
    assert 'iifname "lan0" tcp dport 443 ct state new accept' in rules
    assert "udp" not in rules
    assert "icmp" not in rules
    assert rules.count("accept") == 2


def test_egress_filter_with_udp_and_icmp() -> None:
    """UDP ports and ICMP echo are allowed only when listed."""
    rules = egress_ruleset(
        [EgressFilter("r", "lan0", allow_tcp=(443, 80), allow_udp=(3478,), allow_icmp=True)]
    )
    assert 'iifname "lan0" udp dport 3478 ct state new accept' in rules
    assert 'iifname "lan0" tcp dport 80 ct state new accept' in rules
    assert 'iifname "lan0" icmp type echo-request accept' in rules


def test_masquerade_rules_name_the_uplinks() -> None:
    """Masquerade applies to what leaves through the named interfaces only."""
    rules = masquerade_ruleset(["wan0", "lte0"])
    assert "type nat hook postrouting priority srcnat" in rules
    assert 'oifname "wan0" masquerade' in rules
    assert 'oifname "lte0" masquerade' in rules
    # Unsolicited packets to the router are dropped before conntrack confirms them, so
    # they cannot take the port an outgoing flow keeps (endpoint-independent mapping).
    assert 'iifname "wan0" ip protocol != icmp ct state new drop' in rules


def test_emulated_links_replace_the_access_veths() -> None:
    """Shaping a link swaps that host's veth for an emulated link with the same ends, and
    the two emulators draw from different seeds."""
    spec = clinic_and_home(
        home_link=LinkConfig(delay=0.03), clinic_link=LinkConfig(loss=0.01), seed=5
    )
    emulated = {link.a: link for link in spec.links if isinstance(link, Emulated)}
    assert set(emulated) == {"home", "clinic"}
    assert (emulated["clinic"].a_addr, emulated["clinic"].b_addr) == (
        "192.0.2.10/24",
        "192.0.2.1/24",
    )
    assert (emulated["home"].a_addr, emulated["home"].b_addr) == (
        "198.51.100.10/25",
        "198.51.100.1/25",
    )
    assert emulated["home"].seed != emulated["clinic"].seed
    plain = clinic_and_home()
    assert not any(isinstance(link, Emulated) for link in plain.links)
