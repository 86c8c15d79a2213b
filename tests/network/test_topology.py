"""The clinic–internet–home topology works as real networks do: NAT hides the LANs behind
their routers' public addresses, a hospital-style router passes only TCP 443, a network
change gives the home a new public address, and nothing is left behind when a test ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit.internet import (
    ADDRESSES,
    CLINIC,
    HOME,
    INTERNET,
    clinic_and_home,
    network_change,
)
from devkit.link_model import LinkConfig
from devkit.netns import Topology, build, child_env, probe_argv, sweep_stale
from devkit.netns_loop import namespace_loop
from devkit.topology import TopologySpec, Veth

pytestmark = pytest.mark.network

SERVER = ADDRESSES.server
PORTS = ("80", "443", "3478")


@contextlib.asynccontextmanager
async def echo_servers(topo: Topology) -> AsyncIterator[None]:
    """UDP and TCP echo servers on the internet's server address, on ``PORTS``."""
    async with contextlib.AsyncExitStack() as stack:
        for port in PORTS:
            for kind in ("udp-echo", "tcp-echo"):
                argv = probe_argv(kind, "--bind", SERVER, "--port", port)
                proc = await stack.enter_async_context(topo.process(INTERNET, *argv))
                await proc.ready()
        yield


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Topology, Topology]]:
    """Two topologies side by side: an open one, and one whose home router passes only
    TCP 443 out; each with UDP and TCP echo servers on the internet (ports 80, 443, 3478)."""
    async with (
        build(clinic_and_home()) as open_net,
        build(clinic_and_home(home_egress_tcp=(443,))) as strict_net,
        echo_servers(open_net),
        echo_servers(strict_net),
    ):
        yield open_net, strict_net


async def udp_seen_as(topo: Topology, role: str, port: str = "3478") -> str | None:
    result = await topo.probe(
        role, "udp-ping", "--to", SERVER, "--port", port, "--count", "3", "--timeout", "1"
    )
    return result["seen_as"].split(":")[0] if result["received"] else None


async def tcp_seen_as(topo: Topology, role: str, port: str) -> str | None:
    result = await topo.probe(
        role, "tcp-ping", "--to", SERVER, "--port", port, "--count", "1", "--timeout", "1.5"
    )
    return result["seen_as"].split(":")[0] if result["connected"] else None


async def test_nat_shows_the_router_address(servers: tuple[Topology, Topology]) -> None:
    """The internet sees the clinic and the home as their routers' public addresses, over
    UDP and TCP, never as their LAN addresses."""
    topo, _ = servers
    assert await udp_seen_as(topo, CLINIC) == ADDRESSES.clinic_public
    assert await tcp_seen_as(topo, CLINIC, "80") == ADDRESSES.clinic_public
    assert await udp_seen_as(topo, HOME) == ADDRESSES.home_public
    assert await tcp_seen_as(topo, HOME, "443") == ADDRESSES.home_public


async def test_lans_are_not_reachable_from_the_internet(
    servers: tuple[Topology, Topology],
) -> None:
    """The internet has no route into either LAN, and a LAN cannot reach the other's
    private address: only the NATs' public addresses answer."""
    topo, _ = servers
    from_internet = await topo.probe(
        INTERNET, "icmp-ping", "--to", ADDRESSES.clinic, "--count", "2", "--timeout", "0.5"
    )
    assert from_internet["received"] == 0
    from_home = await topo.probe(
        HOME, "icmp-ping", "--to", ADDRESSES.clinic, "--count", "2", "--timeout", "0.5"
    )
    assert from_home["received"] == 0
    to_public = await topo.probe(
        HOME, "icmp-ping", "--to", ADDRESSES.clinic_public, "--count", "2", "--timeout", "1"
    )
    assert to_public["received"] == 2


async def test_443_only_router_drops_udp_and_other_tcp(
    servers: tuple[Topology, Topology],
) -> None:
    """Behind the hospital-style router, UDP (3478, 443) and TCP 80 and 3478 get no answer
    while TCP 443 works; the same probes from the open topology's home all work."""
    open_net, strict = servers
    assert await tcp_seen_as(strict, HOME, "443") == ADDRESSES.home_public
    assert await tcp_seen_as(strict, HOME, "80") is None
    assert await tcp_seen_as(strict, HOME, "3478") is None
    assert await udp_seen_as(strict, HOME, "3478") is None
    assert await udp_seen_as(strict, HOME, "443") is None
    # The control: the very same probes pass where the router does not filter, and the
    # clinic's router (no filter) in the strict topology passes them too.
    assert await tcp_seen_as(open_net, HOME, "80") == ADDRESSES.home_public
    assert await udp_seen_as(open_net, HOME, "3478") == ADDRESSES.home_public
    assert await udp_seen_as(strict, CLINIC, "3478") == ADDRESSES.clinic_public


async def test_network_change_gives_a_new_public_address(
    servers: tuple[Topology, Topology],
) -> None:
    """Moving the home's default route to the second uplink changes the address the
    internet sees; moving it back restores the first."""
    topo, _ = servers
    assert await udp_seen_as(topo, HOME) == ADDRESSES.home_public
    await network_change(topo, to_lte=True)
    assert await udp_seen_as(topo, HOME) == ADDRESSES.lte_public
    assert await tcp_seen_as(topo, HOME, "443") == ADDRESSES.lte_public
    await network_change(topo, to_lte=False)
    assert await udp_seen_as(topo, HOME) == ADDRESSES.home_public


async def test_link_down_cuts_the_home_off() -> None:
    """Taking the home's Wi-Fi link down cuts it off until it comes back."""
    async with (
        build(clinic_and_home()) as topo,
        topo.process(INTERNET, *probe_argv("udp-echo", "--bind", SERVER, "--port", "3478")) as echo,
    ):
        await echo.ready()
        await topo.set_link(HOME, "eth0", up=False)
        assert await udp_seen_as(topo, HOME) is None
        await topo.set_link(HOME, "eth0", up=True)
        await topo.set_default_route(HOME, ADDRESSES.home_gateway, "eth0")
        assert await udp_seen_as(topo, HOME) == ADDRESSES.home_public


async def test_names_are_looked_up_only_inside_the_namespace() -> None:
    """Programs in a namespace see a resolver on their own loopback (nothing answers), so a
    lookup fails there instead of sending a query to the machine's resolver address; the
    namespace's /etc folder goes with it."""
    async with build(clinic_and_home()) as topo:
        names = topo.all_netns()
        resolv = await topo.exec(HOME, "cat", "/etc/resolv.conf")
        assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == [
            "nameserver 127.0.0.1"
        ]
        lookup = await topo.exec(
            HOME,
            sys.executable,
            "-c",
            "import socket\n"
            "try:\n"
            "    socket.getaddrinfo('example.com', 443)\n"
            "    print('resolved')\n"
            "except OSError:\n"
            "    print('failed')",
        )
        assert lookup.strip() == "failed"
    assert not any((Path("/etc/netns") / name).exists() for name in names)


def netns_names() -> set[str]:
    run_netns = Path("/run/netns")
    return {p.name for p in run_netns.iterdir()} if run_netns.exists() else set()


async def test_everything_is_removed_even_when_the_test_fails() -> None:
    """A test that raises inside the topology still leaves no namespace, no emulator and no
    process behind."""
    spec = clinic_and_home(home_link=LinkConfig(delay=0.01))
    seen: dict[str, object] = {}
    with pytest.raises(RuntimeError, match="the test failed"):
        async with build(spec) as topo:
            seen["names"] = set(topo.all_netns())
            seen["emulator"] = topo.emulator(HOME, "home-nat").pid
            async with topo.process(INTERNET, "sleep", "60") as sleeper:
                seen["sleeper"] = sleeper.pid
                raise RuntimeError("the test failed")
    names = seen["names"]
    assert isinstance(names, set)
    assert names
    assert not names & netns_names()
    for key in ("emulator", "sleeper"):
        pid = seen[key]
        assert isinstance(pid, int)
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), key


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


async def test_parallel_topologies_do_not_collide() -> None:
    """Two builds of the same spec at once get different namespaces and both work."""
    spec = TopologySpec(
        namespaces=("a", "b"),
        links=(Veth("a", "eth0", "192.0.2.1/24", "b", "eth0", "192.0.2.2/24"),),
    )
    async with build(spec) as one, build(spec) as two:
        assert not set(one.all_netns()) & set(two.all_netns())
        pings = await asyncio.gather(
            one.probe("a", "icmp-ping", "--to", "192.0.2.2", "--count", "2"),
            two.probe("a", "icmp-ping", "--to", "192.0.2.2", "--count", "2"),
        )
        assert [p["received"] for p in pings] == [2, 2]


async def test_a_crashed_run_is_swept() -> None:
    """A namespace left by a run whose process is gone is deleted by the next build; one of
    a live process is not."""
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    stale = f"mamori-{dead.pid}-0000aa-stale"
    live = f"mamori-{os.getpid()}-0000bb-live"
    for name in (stale, live):
        proc = await asyncio.create_subprocess_exec("ip", "netns", "add", name)
        assert await proc.wait() == 0
    try:
        swept = await sweep_stale()
        assert stale in swept
        assert stale not in netns_names()
        assert live in netns_names()
    finally:
        for name in (stale, live):
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "delete", name, stderr=asyncio.subprocess.DEVNULL
            )
            await proc.wait()


async def test_in_process_code_can_run_inside_a_namespace() -> None:
    """A loop whose thread entered the internet namespace serves UDP on the internet's
    address, reachable from the home behind NAT, while the test's own thread stays outside
    (that address cannot be bound here)."""

    async def serve() -> asyncio.DatagramTransport:
        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = f"{addr[0]}:{addr[1]}".encode() + b"|" + data
                self.transport.sendto(reply, addr)

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(SERVER, 3478))
        return transport

    async def close(transport: asyncio.DatagramTransport) -> None:
        transport.close()

    async with build(clinic_and_home()) as topo, namespace_loop(topo.netns(INTERNET)) as inside:
        transport = await inside.run(serve())
        try:
            assert await udp_seen_as(topo, HOME) == ADDRESSES.home_public
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as outside,
                pytest.raises(OSError, match="Cannot assign requested address"),
            ):
                outside.bind((SERVER, 0))
        finally:
            await inside.run(close(transport))


CRASHING_RUN = """
import asyncio, json, sys
from devkit.internet import clinic_and_home, INTERNET, HOME
from devkit.link_model import LinkConfig
from devkit.netns import build

async def main():
    async with build(clinic_and_home(home_link=LinkConfig(delay=0.01))) as topo:
        async with topo.process(INTERNET, "sleep", "60", stdout=None) as sleeper:
            print(json.dumps({"netns": topo.all_netns(), "sleeper": sleeper.pid,
                              "emulator": topo.emulator(HOME, "home-nat").pid}), flush=True)
            await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_killed_run_leaves_no_process_and_is_swept(tmp_path: Path) -> None:
    """A test process killed with SIGKILL mid-run takes its processes and its emulator with
    it at once (parent-death signal, stdin closing); its namespaces go at the next build."""
    script = tmp_path / "crashing_run.py"
    script.write_text(CRASHING_RUN)
    run = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=asyncio.subprocess.PIPE, env=child_env()
    )
    assert run.stdout is not None
    started = json.loads(await asyncio.wait_for(run.stdout.readline(), 30))
    run.kill()
    await run.wait()
    for _ in range(100):  # up to 5 s
        if not any(_running(started[k]) for k in ("sleeper", "emulator")):
            break
        await asyncio.sleep(0.05)
    assert not _running(started["sleeper"])
    assert not _running(started["emulator"])
    assert set(started["netns"]) <= netns_names()  # still there: nobody cleaned up
    swept = await sweep_stale()
    assert set(started["netns"]) <= set(swept)
    assert not set(started["netns"]) & netns_names()


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)
