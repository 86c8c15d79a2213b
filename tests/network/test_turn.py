"""coturn run by the kit accepts TURN REST credentials minted with its secret, refuses
expired and forged ones, relays only inside the test ranges, and is reachable over TLS 443
from behind a router that passes nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit.internet import ADDRESSES, HOME, INTERNET, clinic_and_home
from devkit.netns import Topology, build, probe_argv
from devkit.turn import TurnServer, allocate, rest_credential, running_turn

pytestmark = [pytest.mark.network, pytest.mark.usefixtures("coturn")]

SERVER = ADDRESSES.server
ECHO = (SERVER, 9000)


@pytest.fixture
async def turn(tmp_path: Path) -> AsyncIterator[tuple[Topology, TurnServer]]:
    """The clinic–home topology with a 443-only home router, coturn on the internet
    relaying only to 203.0.113.0/24, and a UDP echo there to relay to."""
    async with (
        build(clinic_and_home(home_egress_tcp=(443,))) as topo,
        running_turn(topo, INTERNET, SERVER, tmp_path, allowed_peers=("203.0.113.0/24",)) as server,
        topo.process(
            INTERNET, *probe_argv("udp-echo", "--bind", SERVER, "--port", str(ECHO[1]))
        ) as echo,
    ):
        await echo.ready()
        yield topo, server


async def test_rest_credential_allocates_on_udp_tcp_and_tls(
    turn: tuple[Topology, TurnServer],
) -> None:
    """From the clinic (behind NAT), a fresh credential gets an allocation over UDP 3478,
    TCP 3478 and TLS 443; coturn sees the NAT's address, and a datagram sent through the
    relay reaches a peer, which sees the relayed address and answers through it."""
    topo, server = turn
    username, password = rest_credential(server.secret, "session-1", valid_for=300)
    for transport in ("udp", "tcp", "tls"):
        result = await allocate(
            topo, "clinic", server, username, password, transport=transport, peer=ECHO
        )
        assert result["ok"], (transport, result)
        assert result["relayed"].startswith(f"{SERVER}:")
        assert result["mapped"].startswith(f"{ADDRESSES.clinic_public}:")
        assert result["peer_reply"].startswith(result["relayed"] + "|"), result


async def test_expired_and_forged_credentials_are_refused(
    turn: tuple[Topology, TurnServer],
) -> None:
    """A credential whose expiry has passed, one signed with another secret, and one whose
    user part was changed after signing are all refused with 401."""
    topo, server = turn
    expired = rest_credential(server.secret, "session-1", valid_for=-5)
    forged = rest_credential("not-the-secret", "session-1", valid_for=300)
    username, password = rest_credential(server.secret, "session-1", valid_for=300)
    tampered = (username.replace("session-1", "session-2"), password)
    for name, (user, pw) in (("expired", expired), ("forged", forged), ("tampered", tampered)):
        result = await allocate(topo, "clinic", server, user, pw)
        assert not result["ok"], name
        assert result["error_code"] == 401, (name, result)
    assert (await allocate(topo, "clinic", server, username, password))["ok"]


async def test_relay_only_inside_the_allowed_range(turn: tuple[Topology, TurnServer]) -> None:
    """Peers outside the server's allowed range — another documentation range, loopback —
    are refused (403) before anything is relayed."""
    topo, server = turn
    username, password = rest_credential(server.secret, "session-1", valid_for=300)
    for peer in ((ADDRESSES.home, 9000), ("127.0.0.1", 9000)):
        result = await allocate(topo, "clinic", server, username, password, peer=peer)
        assert result["ok"]
        assert result["peer_reply"] is None, peer
        assert result.get("peer_error_code") == 403, (peer, result)


async def test_443_only_network_reaches_turn_over_tls(
    turn: tuple[Topology, TurnServer],
) -> None:
    """Behind the router that passes only TCP 443, TURN over UDP and TCP 3478 fails and
    TURN over TLS on 443 works, relaying to the peer."""
    topo, server = turn
    username, password = rest_credential(server.secret, "doctor", valid_for=300)
    for transport in ("udp", "tcp"):
        result = await allocate(
            topo, HOME, server, username, password, transport=transport, timeout=2.0
        )
        assert not result["ok"], transport
        assert result["error"] in {"TimeoutError", "ConnectionRefusedError", "OSError"}
    result = await allocate(topo, HOME, server, username, password, transport="tls", peer=ECHO)
    assert result["ok"], result
    assert result["mapped"].startswith(f"{ADDRESSES.home_public}:")
    assert result["peer_reply"].startswith(result["relayed"] + "|")
