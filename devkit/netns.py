"""Network namespaces for tests and the bench: a topology described in a few lines, built
with ``ip`` and ``nft``, torn down however the test ends.

    spec = TopologySpec(                               # devkit/topology.py
        namespaces=("a", "router", "b"),
        links=(Veth("a", "eth0", "192.0.2.2/24", "router", "lan0", "192.0.2.1/24"),
               Emulated("router", "wan0", "203.0.113.1/24", "b", "eth0", "203.0.113.2/24",
                        LinkConfig(delay=0.030))),
        routes=(Route("a", "192.0.2.1"),),
        masquerade=(Masquerade("router", "wan0"),),
    )
    async with build(spec) as topo:
        async with topo.process("b", *probe_argv("udp-echo", "--port", "9000")) as server:
            await server.ready()
            result = await topo.probe("a", "udp-ping", "--to", "203.0.113.2", "--port", "9000")
        await topo.emulator("router", "b").configure(LinkConfig(loss=0.05))

Namespaces are named ``mamori-<pid>-<random>-<role>``: parallel runs never collide, and a
run that died without cleaning up (SIGKILL) is swept by the next one (its pid is gone). Both
ends of every veth and TUN live inside the test's namespaces: nothing is added to, routed
through or filtered in the machine's own namespace. Addresses come from the documentation
ranges (RFC 5737) and loopback only; the spec refuses any other. ``devkit/internet.py`` has
the clinic–internet–home shape the reach and networks tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from devkit.link_emulator import LinkEmulator, running_emulator
from devkit.topology import (
    TopologySpec,
    Veth,
    check_address,
    egress_ruleset,
    known_role,
    masquerade_ruleset,
)

PREFIX = "mamori-"
COMMAND_TIMEOUT = 15.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class NetnsError(RuntimeError):
    """A command that builds or changes a topology failed."""


def missing_requirements() -> list[str]:
    """What this machine lacks to build topologies (empty when everything is there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces need CAP_NET_ADMIN)")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian {package})")
    if not os.path.exists("/dev/net/tun"):
        missing.append("/dev/net/tun")
    return missing


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: this one, with this checkout first on ``PYTHONPATH``, so
    ``python -m devkit...`` inside a namespace runs the same code as the test that started it
    (a shared virtualenv may point its editable install at another checkout)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


async def run(
    *argv: str,
    timeout: float = COMMAND_TIMEOUT,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a command to completion; its stdout. Raises ``NetnsError`` with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(env),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise NetnsError(f"{' '.join(argv)}: no answer within {timeout} s") from None
    if proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {proc.returncode}: {err.decode().strip()}")
    return out.decode()


class NetnsProcess:
    """A process running inside a namespace (see ``Topology.process``)."""

    def __init__(self, process: asyncio.subprocess.Process, argv: Sequence[str]) -> None:
        self.process = process
        self.argv = list(argv)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ready(self, timeout: float = 10.0) -> dict[str, Any]:
        """The first JSON line the process prints (devkit's probes print one when ready)."""
        return await self.read_json(timeout)

    async def read_json(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next JSON line the process prints (a sink's report when it is done)."""
        if self.process.stdout is None:
            raise NetnsError(f"{self.argv}: started without stdout piped")
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise NetnsError(f"{self.argv}: printed nothing within {timeout} s") from None
        if not line:
            raise NetnsError(f"{self.argv}: exited without printing")
        data: dict[str, Any] = json.loads(line)
        return data

    async def stop(self, grace: float = 3.0) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit status."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
        return await self.process.wait()


def _bound_to_us() -> list[str]:
    """A prefix that has the kernel kill the process if the test process dies (SIGKILL,
    a crash): ``setpriv --pdeathsig`` (util-linux, on every Debian) survives the execs of
    ``ip netns exec``. Without it, the next build's ``sweep_stale`` cleans up instead."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


# ``ip netns exec`` bind-mounts the files of /etc/netns/<name>/ over /etc/ for what it runs.
NETNS_ETC = Path("/etc/netns")


def _confine_dns(name: str) -> None:
    """Point the namespace's resolver at its own loopback, where nothing answers.

    Without it, programs inside (Chromium looks names up on its own) would send DNS queries
    towards the machine's resolver address: traffic to an address outside the test's
    namespaces, even if no route takes it anywhere. Names the tests need are mapped
    explicitly (e.g. Chromium's ``--host-resolver-rules``)."""
    directory = NETNS_ETC / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


def netns_wrapper(netns: str, program: str, directory: Path) -> Path:
    """An executable that runs ``program`` (with its arguments) inside ``netns``: for tools
    that take a program path and start it themselves, such as Playwright's
    ``executable_path`` (its pipe to the browser works across namespaces; sockets stay in)."""
    path = directory / f"in-{netns}-{Path(program).name}"
    path.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {program} "$@"\n')
    path.chmod(0o755)
    return path


def probe_argv(*args: str) -> list[str]:
    """The command line of a ``devkit.netprobe`` subcommand (see that module)."""
    return [sys.executable, "-m", "devkit.netprobe", *args]


class Topology:
    """A built topology: its namespaces' real names, commands and processes inside them."""

    def __init__(self, spec: TopologySpec, prefix: str) -> None:
        self.spec = spec
        self.prefix = prefix
        self._emulators: dict[tuple[str, str], LinkEmulator] = {}
        self._processes: list[NetnsProcess] = []

    def netns(self, role: str) -> str:
        """The real namespace name of ``role``."""
        known_role(role, set(self.spec.namespaces))
        return f"{self.prefix}-{role}"

    def all_netns(self) -> list[str]:
        return [self.netns(role) for role in self.spec.namespaces]

    async def ip(self, role: str, *args: str) -> str:
        """``ip -n <namespace> ...``."""
        return await run("ip", "-n", self.netns(role), *args)

    async def exec(
        self,
        role: str,
        *argv: str,
        timeout: float = COMMAND_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run ``argv`` inside ``role``'s namespace to completion; its stdout. ``env`` adds
        to the environment (a secret goes there, not on a command line ``ps`` shows)."""
        return await run("ip", "netns", "exec", self.netns(role), *argv, timeout=timeout, env=env)

    async def nft(self, role: str, ruleset: str) -> None:
        """Load an nftables ruleset inside ``role``'s namespace."""
        await run("ip", "netns", "exec", self.netns(role), "nft", "-f", "-", stdin=ruleset.encode())

    async def probe(self, role: str, *args: str, timeout: float = 60.0) -> dict[str, Any]:
        """Run a ``devkit.netprobe`` client inside ``role``; the JSON it printed."""
        out = await self.exec(role, *probe_argv(*args), timeout=timeout)
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return data

    @contextlib.asynccontextmanager
    async def process(
        self,
        role: str,
        *argv: str,
        stdout: Any = asyncio.subprocess.PIPE,
        stderr: Any = None,
        env: dict[str, str] | None = None,
    ) -> AsyncIterator[NetnsProcess]:
        """A process inside ``role``'s namespace, stopped (TERM, then KILL) when the block
        ends, however it ends. ``env`` adds to the environment (see ``child_env``)."""
        proc = await asyncio.create_subprocess_exec(
            *_bound_to_us(),
            "ip",
            "netns",
            "exec",
            self.netns(role),
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=child_env(env),
        )
        handle = NetnsProcess(proc, argv)
        self._processes.append(handle)
        try:
            yield handle
        finally:
            await handle.stop()

    def emulator(self, a: str, b: str) -> LinkEmulator:
        """The emulator of the ``Emulated`` link between roles ``a`` and ``b``."""
        return self._emulators[(a, b)] if (a, b) in self._emulators else self._emulators[(b, a)]

    async def set_default_route(self, role: str, via: str | None, dev: str | None = None) -> None:
        """Move ``role``'s default route (a network change: Wi-Fi → LTE)."""
        args = ["route", "replace", "default"]
        if via is not None:
            check_address(via)
            args += ["via", via]
        if dev is not None:
            args += ["dev", dev]
        await self.ip(role, *args)

    async def set_link(self, role: str, ifname: str, up: bool) -> None:
        """Bring an interface of ``role`` up or down (the Wi-Fi drops)."""
        await self.ip(role, "link", "set", "dev", ifname, "up" if up else "down")

    async def _build(self, stack: contextlib.AsyncExitStack) -> None:
        spec = self.spec
        for role in spec.namespaces:
            await run("ip", "netns", "add", self.netns(role))
            stack.push_async_callback(self._delete_netns, self.netns(role))
            _confine_dns(self.netns(role))
            forward = "1" if role in spec.forwarding() else "0"
            # IPv6 off: nothing but the test's own IPv4 crosses the links (no router
            # solicitations in the emulator's counts). Reverse-path filtering off: a moved
            # default route (network change) must not make replies look spoofed.
            await self.exec(
                role,
                "sh",
                "-c",
                f"echo {forward} > /proc/sys/net/ipv4/ip_forward;"
                " for k in all default; do"
                " echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6;"
                " echo 0 > /proc/sys/net/ipv4/conf/$k/rp_filter; done",
            )
            await self.ip(role, "link", "set", "lo", "up")
        for role, addr in spec.loopback_addresses:
            await self.ip(role, "addr", "add", addr, "dev", "lo")
        for link in spec.links:
            if isinstance(link, Veth):
                peer = ["peer", "name", link.b_if, "netns", self.netns(link.b)]
                await self.ip(link.a, "link", "add", link.a_if, "type", "veth", *peer)
            else:
                emulator = await stack.enter_async_context(
                    running_emulator(
                        self.netns(link.a),
                        link.a_if,
                        self.netns(link.b),
                        link.b_if,
                        link.config,
                        link.config_back,
                        seed=link.seed,
                        env=child_env(),
                    )
                )
                self._emulators[(link.a, link.b)] = emulator
            for role, ifname, addr in (
                (link.a, link.a_if, link.a_addr),
                (link.b, link.b_if, link.b_addr),
            ):
                await self.ip(role, "addr", "add", addr, "dev", ifname)
                await self.ip(role, "link", "set", ifname, "up")
        for route in spec.routes:
            args = ["route", "add", route.destination]
            args += ["via", route.via] if route.via else []
            args += ["dev", route.dev] if route.dev else []
            await self.ip(route.namespace, *args)
        for role in {m.namespace for m in spec.masquerade}:
            outs = [m.out_if for m in spec.masquerade if m.namespace == role]
            await self.nft(role, masquerade_ruleset(outs))
        for role in {f.namespace for f in spec.filters}:
            await self.nft(role, egress_ruleset([f for f in spec.filters if f.namespace == role]))

    async def _delete_netns(self, name: str) -> None:
        await _kill_inside(name)
        with contextlib.suppress(NetnsError):
            await run("ip", "netns", "delete", name)
        shutil.rmtree(NETNS_ETC / name, ignore_errors=True)


@contextlib.asynccontextmanager
async def build(spec: TopologySpec) -> AsyncIterator[Topology]:
    """Build ``spec`` under fresh namespace names; tear everything down when the block ends."""
    spec.validate()
    missing = missing_requirements()
    if missing:
        raise NetnsError("cannot build network namespaces here: missing " + ", ".join(missing))
    await sweep_stale()
    topo = Topology(spec, f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}")
    async with contextlib.AsyncExitStack() as stack:
        await topo._build(stack)
        try:
            yield topo
        finally:
            # Processes first (they may hold an emulator's traffic), then the emulators and
            # the namespaces, in reverse (the stack); what still runs inside is killed.
            for handle in topo._processes:
                await handle.stop()


async def sweep_stale() -> list[str]:
    """Delete the namespaces of runs whose process is gone (a SIGKILLed test); their names."""
    swept = []
    for path in sorted(Path("/run/netns").glob(PREFIX + "*")):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            await _kill_inside(path.name)
            with contextlib.suppress(NetnsError):
                await run("ip", "netns", "delete", path.name)
                swept.append(path.name)
            shutil.rmtree(NETNS_ETC / path.name, ignore_errors=True)
    return swept


async def _kill_inside(name: str) -> None:
    """Kill what still runs inside one of our namespaces (it would keep the namespace alive).

    Only processes in a namespace this kit made are touched, each by its id."""
    with contextlib.suppress(NetnsError):
        for pid in (await run("ip", "netns", "pids", name)).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
