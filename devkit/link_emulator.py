"""A userspace link emulator between two network namespaces (this kernel has no netem).

Two TUN devices, one in each namespace, joined by a process that passes every IP packet
through ``devkit.link_model.LinkShaper`` — one per direction — and writes it out on the
other side when the model releases it. The process runs inside the first namespace
(``ip netns exec``); it makes both devices there and moves the second into the other
namespace, so nothing touches the machine's own namespace. It takes commands as JSON lines
on stdin and exits when stdin closes, so it cannot outlive the test that started it.

    async with running_emulator(ns_a, "emu0", ns_b, "emu0", LinkConfig(delay=0.03)) as link:
        ...                                      # give the devices addresses, bring them up
        await link.configure(LinkConfig(delay=0.03, loss=0.05))     # both directions
        await link.configure(LinkConfig(rate_bps=2e6), direction="b_to_a")
        await link.outage(2.0)
        stats = await link.stats()               # per direction, and the pump's lateness

``Topology`` (devkit/netns.py) starts these for its ``Emulated`` links. The pump is one
thread on select(); it reports how late it released packets (its own added delay), and
``bench/link_overhead.py`` measures its added round trip and its packet rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import json
import os
import random
import secrets
import select
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from devkit.link_model import LinkConfig, LinkShaper, config_from_json, config_to_json
from devkit.netprobe import realtime_priority

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DIRECTIONS = ("a_to_b", "b_to_a")
# Packets read from one device before the pump looks at the other and at due releases:
# bounds how long one flooded direction can hold up the other.
READ_BURST = 64
MAX_PACKET = 65_535


class EmulatorError(RuntimeError):
    """The emulator process failed to start or answered a command with an error."""


def open_tun(name: str) -> int:
    """A non-blocking TUN device (IP packets, no header) named ``name``; its fd.

    The device lives while the fd is open, in the namespace of the calling process."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class Pump:
    """Moves packets between two TUN fds through a shaper per direction (one thread)."""

    def __init__(self, fd_a: int, fd_b: int, shapers: dict[str, LinkShaper]) -> None:
        self.fds = {"a_to_b": (fd_a, fd_b), "b_to_a": (fd_b, fd_a)}
        self.shapers = shapers
        self.lateness_max = 0.0
        self.lateness_sum = 0.0
        self.released = 0
        self.write_errors = 0

    def read_from(self, direction: str, now: float) -> None:
        source = self.fds[direction][0]
        shaper = self.shapers[direction]
        for _ in range(READ_BURST):
            try:
                packet = os.read(source, MAX_PACKET)
            except BlockingIOError:
                return
            shaper.offer(now, packet)

    def release_due(self) -> None:
        now = time.monotonic()
        for direction, shaper in self.shapers.items():
            target = self.fds[direction][1]
            for when, packet in shaper.due(now):
                late = now - when
                self.lateness_max = max(self.lateness_max, late)
                self.lateness_sum += late
                self.released += 1
                try:
                    os.write(target, packet)
                except OSError as exc:  # the device went down: the packet is lost
                    if exc.errno not in (errno.EIO, errno.EINVAL, errno.ENOBUFS, errno.EAGAIN):
                        raise
                    self.write_errors += 1

    def next_due(self) -> float | None:
        times = [t for t in (s.next_due() for s in self.shapers.values()) if t is not None]
        return min(times) if times else None

    def stats(self) -> dict[str, Any]:
        return {
            **{d: s.stats.as_dict() for d, s in self.shapers.items()},
            "pump": {
                "released": self.released,
                "lateness_max_ms": self.lateness_max * 1000,
                "lateness_mean_ms": self.lateness_sum / max(self.released, 1) * 1000,
                "write_errors": self.write_errors,
            },
        }


def serve(
    fd_a: int, fd_b: int, shapers: dict[str, LinkShaper], control: int, lifetime: float
) -> None:
    """Run the pump until ``control`` (the command pipe) closes or ``lifetime`` seconds have
    passed; answer commands on stdout."""
    pump = Pump(fd_a, fd_b, shapers)
    os.set_blocking(control, False)
    pending = b""
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        due = pump.next_due()
        # Wake for the next release; at least every 50 ms otherwise (commands, EOF).
        # select() rather than epoll: its timeout has microsecond resolution, epoll's
        # milliseconds (rounded up), which alone would add ~0.5 ms to every delayed packet.
        timeout = 0.05 if due is None else min(0.05, max(0.0, due - time.monotonic()))
        readable, _, _ = select.select([fd_a, fd_b, control], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == fd_a:
                pump.read_from("a_to_b", now)
            elif fd == fd_b:
                pump.read_from("b_to_a", now)
            else:
                chunk = os.read(control, 65_536)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    _answer(_command(pump, line))
        pump.release_due()


def _command(pump: Pump, line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
        op = message["op"]
        targets = _directions(message.get("direction", "both"))
        now = time.monotonic()
        if op == "configure":
            config = config_from_json(message["config"])
            for d in targets:
                pump.shapers[d].configure(config)
        elif op == "outage":
            seconds = message["seconds"]
            for d in targets:
                pump.shapers[d].outage(now, None if seconds is None else float(seconds))
        elif op == "restore":
            for d in targets:
                pump.shapers[d].restore()
        elif op == "stats":
            return {"ok": True, **pump.stats()}
        else:
            raise ValueError(f"unknown op {op!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


def _directions(direction: object) -> tuple[str, ...]:
    if direction == "both":
        return DIRECTIONS
    if direction in DIRECTIONS:
        return (str(direction),)
    raise ValueError(f"direction must be both, a_to_b or b_to_a, not {direction!r}")


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """``python -m devkit.link_emulator``: run inside namespace A (``ip netns exec``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a-if", required=True, help="the device in this namespace")
    parser.add_argument("--b-netns", required=True, help="the other namespace")
    parser.add_argument("--b-if", required=True, help="the device's name there")
    parser.add_argument("--config", required=True, help="a→b config (JSON)")
    parser.add_argument("--config-back", required=True, help="b→a config (JSON)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--realtime", action="store_true", help="SCHED_FIFO (see netprobe.realtime_priority)"
    )
    parser.add_argument(
        "--lifetime", type=float, default=3600.0, help="stop after this many seconds anyway"
    )
    args = parser.parse_args(argv)
    # Loss draws, not secrets: a seed makes a run's losses reproducible.
    rng = random.Random(args.seed)  # noqa: S311
    forward = config_from_json(json.loads(args.config))
    back = config_from_json(json.loads(args.config_back))
    shapers = {
        "a_to_b": LinkShaper(forward, random.Random(rng.random())),  # noqa: S311
        "b_to_a": LinkShaper(back, random.Random(rng.random())),  # noqa: S311
    }
    fd_a = open_tun(args.a_if)
    # Made here under a name unique in this namespace, then moved and renamed.
    temp = "emt" + secrets.token_hex(4)
    fd_b = open_tun(temp)
    subprocess.run(["ip", "link", "set", "dev", temp, "netns", args.b_netns], check=True)
    subprocess.run(
        ["ip", "-n", args.b_netns, "link", "set", "dev", temp, "name", args.b_if], check=True
    )
    if args.realtime:
        realtime_priority()
    _answer({"ready": True, "pid": os.getpid()})
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        serve(fd_a, fd_b, shapers, sys.stdin.fileno(), args.lifetime)


class LinkEmulator:
    """Commands to a running emulator process (see ``running_emulator``)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        return self._process.pid

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise EmulatorError("the emulator was started without pipes")
        async with self._lock:
            stdin.write(json.dumps(message).encode() + b"\n")
            await stdin.drain()
            line = await asyncio.wait_for(stdout.readline(), 5.0)
        if not line:
            raise EmulatorError("the emulator process has exited")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise EmulatorError(answer.get("error", "refused"))
        return answer

    async def configure(self, config: LinkConfig, direction: str = "both") -> None:
        """Shape packets from now on with ``config`` (``a_to_b``, ``b_to_a`` or ``both``)."""
        await self._call(
            {"op": "configure", "direction": direction, "config": config_to_json(config)}
        )

    async def outage(self, seconds: float | None, direction: str = "both") -> None:
        """Drop everything for ``seconds`` from now (``None``: until ``restore``)."""
        await self._call({"op": "outage", "direction": direction, "seconds": seconds})

    async def restore(self, direction: str = "both") -> None:
        await self._call({"op": "restore", "direction": direction})

    async def stats(self) -> dict[str, Any]:
        """Per-direction counters (``devkit.link_model.LinkStats``) and the pump's lateness."""
        answer = await self._call({"op": "stats"})
        answer.pop("ok")
        return answer


@contextlib.asynccontextmanager
async def running_emulator(
    netns_a: str,
    if_a: str,
    netns_b: str,
    if_b: str,
    config: LinkConfig,
    config_back: LinkConfig | None = None,
    seed: int | None = None,
    realtime: bool = True,
    env: dict[str, str] | None = None,
) -> AsyncIterator[LinkEmulator]:
    """An emulator between ``if_a`` in ``netns_a`` and ``if_b`` in ``netns_b`` (both down,
    without addresses); stopped, and its devices gone, when the block ends.

    ``realtime``: schedule the pump with SCHED_FIFO where allowed (see
    ``devkit.netprobe.realtime_priority``): a link's delay must not depend on the load.
    ``env``: the process's environment (``devkit.netns.child_env`` puts this checkout on
    its ``PYTHONPATH``)."""
    argv = [
        "ip",
        "netns",
        "exec",
        netns_a,
        sys.executable,
        "-m",
        "devkit.link_emulator",
        "--a-if",
        if_a,
        "--b-netns",
        netns_b,
        "--b-if",
        if_b,
        "--config",
        json.dumps(config_to_json(config)),
        "--config-back",
        json.dumps(config_to_json(config_back or config)),
    ]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if realtime:
        argv.append("--realtime")
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        try:
            line = await asyncio.wait_for(_first_line(process), 10.0)
        except TimeoutError:
            line = b""
        if not line or not json.loads(line).get("ready"):
            raise EmulatorError(f"the link emulator did not start ({if_a} ↔ {if_b})")
        yield LinkEmulator(process)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # EOF: the pump returns, the TUN devices go with it
        try:
            await asyncio.wait_for(process.wait(), 3.0)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _first_line(process: asyncio.subprocess.Process) -> bytes:
    return await process.stdout.readline() if process.stdout is not None else b""


if __name__ == "__main__":
    main()
