"""Small echo servers and probe clients the network tests run inside namespaces
(``python -m devkit.netprobe SUBCOMMAND``; standard library only).

Servers print one JSON line when they listen (``NetnsProcess.ready``) and stop by
themselves after ``--lifetime`` seconds. Clients print one JSON line with what they
measured. Every loop is bounded in count and in time.

    udp-echo / tcp-echo --bind ADDR --port P     echo, prefixed with the peer address seen
    http-whoami --bind ADDR --port P             a page naming the address it was fetched from
    udp-ping --to ADDR --port P --count N        round trips, losses, the address seen
    tcp-ping --to ADDR --port P --count N        connect (or not), round trips, address seen
    icmp-ping --to ADDR --count N                ICMP echo round trips (raw socket)
    udp-sink --bind ADDR --port P                counts datagrams until --lifetime or a
                                                 gap; prints the count, bytes and span
    udp-blast --to ADDR --port P --pps R         sends R datagrams a second for --seconds
    tcp-sink / tcp-send                          bulk TCP: bytes over time at the receiver
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import os
import select
import socket
import struct
import sys
import time
from typing import Any

SEP = b"|"
DRAIN_MAX = 1_000  # datagrams read in one go before the loop looks at its clock again


def realtime_priority() -> None:
    """Run this process at a low real-time priority (SCHED_FIFO 5), if allowed.

    A link's delay, and the round trips that measure it, must not depend on how busy the
    machine is: on a shared 2-core machine an ordinary process is sometimes not scheduled
    for tens of milliseconds, which would show up as jitter nobody configured. These
    processes sleep between packets, so they take little; flooded, each holds one core at
    most (one thread), and the kernel's real-time throttling (``sched_rt_runtime_us``)
    leaves the rest of the machine its share.
    """
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))


def _print(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def udp_echo(args: argparse.Namespace) -> None:
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(f"{addr[0]}:{addr[1]}".encode() + SEP + data, addr)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(args.bind, args.port))
    _print({"ready": True, "port": transport.get_extra_info("sockname")[1]})
    await asyncio.sleep(args.lifetime)
    transport.close()


async def tcp_echo(args: argparse.Namespace) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        writer.write(f"{host}:{port}\n".encode())
        try:
            while data := await reader.read(65_536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, args.bind, args.port)
    _print({"ready": True, "port": server.sockets[0].getsockname()[1]})
    async with server:
        await asyncio.sleep(args.lifetime)


def http_whoami(args: argparse.Namespace) -> None:
    """A web page that says which address it was fetched from (a browser behind NAT)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<!doctype html><title>whoami</title><p id=peer>{self.client_address[0]}"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    server.timeout = 0.5
    _print({"ready": True, "port": server.server_address[1]})
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        server.handle_request()
    server.server_close()


def udp_ping(args: argparse.Namespace) -> dict[str, Any]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((args.to, args.port))
    except OSError as exc:  # no route at all: nothing can be sent
        return {**_round_trips(0, {}, None), "error": type(exc).__name__}
    sock.setblocking(False)
    sent: dict[int, float] = {}
    rtts: dict[int, float] = {}
    seen_as = None
    start = time.monotonic()
    next_send = start
    deadline = start + args.count * args.interval + args.timeout
    padding = bytes(max(0, args.size - 8))
    while time.monotonic() < deadline:
        now = time.monotonic()
        if len(sent) < args.count and now >= next_send:
            seq = len(sent)
            sent[seq] = now
            with contextlib.suppress(OSError):  # e.g. ENETUNREACH while a route moves
                sock.send(struct.pack("!Q", seq) + padding)
            next_send += args.interval
        if len(rtts) == args.count:
            break
        wait = args.interval if len(sent) < args.count else deadline - now
        _wait_readable(sock, max(0.0, min(wait, next_send - time.monotonic())))
        for _ in range(DRAIN_MAX):  # what is queued now, bounded
            try:
                reply = sock.recv(65_536)
            except (BlockingIOError, ConnectionRefusedError):
                break
            peer, _, payload = reply.partition(SEP)
            seq = struct.unpack("!Q", payload[:8])[0]
            if seq in sent and seq not in rtts:
                rtts[seq] = time.monotonic() - sent[seq]
                seen_as = peer.decode()
    return _round_trips(len(sent), rtts, seen_as)


def _wait_readable(sock: socket.socket, timeout: float) -> None:
    select.select([sock], [], [], timeout)


def _round_trips(sent: int, rtts: dict[int, float], seen_as: str | None) -> dict[str, Any]:
    ordered = [rtts[k] * 1000 for k in sorted(rtts)]
    return {
        "sent": sent,
        "received": len(ordered),
        "loss": 1 - len(ordered) / sent if sent else None,
        "rtt_ms": ordered,
        "received_seqs": sorted(rtts),
        "seen_as": seen_as,
    }


def tcp_ping(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    try:
        sock = socket.create_connection((args.to, args.port), timeout=args.timeout)
    except OSError as exc:
        return {"connected": False, "error": type(exc).__name__, "rtt_ms": []}
    connect_ms = (time.monotonic() - started) * 1000
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(args.timeout)
    stream = sock.makefile("rb")
    rtts: list[float] = []
    message = bytes(max(1, args.size))
    error = seen_as = None
    try:
        seen_as = stream.readline().decode().strip()
        for _ in range(args.count):
            t0 = time.monotonic()
            sock.sendall(message)
            got = 0
            while got < len(message):
                chunk = stream.read1(len(message) - got)
                if not chunk:
                    raise ConnectionResetError("closed by the server")
                got += len(chunk)
            rtts.append((time.monotonic() - t0) * 1000)
    except OSError as exc:
        error = type(exc).__name__
    sock.close()
    return {
        "connected": True,
        "connect_ms": connect_ms,
        "rtt_ms": rtts,
        "seen_as": seen_as,
        "error": error,
    }


def icmp_ping(args: argparse.Namespace) -> dict[str, Any]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    sent: dict[int, float] = {}
    rtts: dict[int, float] = {}
    deadline = time.monotonic() + args.count * args.interval + args.timeout
    for seq in range(args.count):
        header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        payload = bytes(max(0, args.size - 8))
        packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
        sent[seq] = time.monotonic()
        with contextlib.suppress(OSError):  # no route: counted as sent, and lost
            sock.sendto(packet, (args.to, 0))
        _collect_icmp(sock, ident, sent, rtts, time.monotonic() + args.interval)
    _collect_icmp(sock, ident, sent, rtts, deadline)
    return _round_trips(len(sent), rtts, None)


def _collect_icmp(
    sock: socket.socket, ident: int, sent: dict[int, float], rtts: dict[int, float], until: float
) -> None:
    while (left := until - time.monotonic()) > 0 and len(rtts) < len(sent):
        _wait_readable(sock, left)
        for _ in range(DRAIN_MAX):  # what is queued now, bounded
            try:
                data = sock.recv(65_536)
            except BlockingIOError:
                break
            ihl = (data[0] & 0x0F) * 4
            kind, _, _, rid, seq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if kind == 0 and rid == ident and seq in sent and seq not in rtts:
                rtts[seq] = time.monotonic() - sent[seq]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def udp_sink(args: argparse.Namespace) -> dict[str, Any]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((args.bind, args.port))
    _print({"ready": True, "port": sock.getsockname()[1]})
    sock.settimeout(args.lifetime)
    count = nbytes = 0
    first = last = None
    end = time.monotonic() + args.lifetime
    while time.monotonic() < end:
        try:
            data = sock.recv(65_536)
        except TimeoutError:
            break
        last = time.monotonic()
        first = first or last
        count += 1
        nbytes += len(data)
        sock.settimeout(args.gap)  # the sender stopped when nothing came for this long
    span = (last - first) if first and last else 0.0
    return {"received": count, "bytes": nbytes, "span_s": span}


def udp_blast(args: argparse.Namespace) -> dict[str, Any]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((args.to, args.port))
    payload = bytes(args.size)
    total = int(args.pps * args.seconds)
    start = time.monotonic()
    sent = errors = 0
    # Catch up with the schedule in batches, then sleep ~1 ms: paced at any rate a
    # sleep-per-packet loop could not keep; a batch is what fell due since the last one.
    while sent + errors < total and time.monotonic() < start + args.seconds + 5:
        due = min(total, int((time.monotonic() - start) * args.pps) + 1)
        while sent + errors < due:
            try:
                sock.send(payload)
                sent += 1
            except OSError:  # ENOBUFS: the local queue is full
                errors += 1
        time.sleep(0.001)
    return {"sent": sent, "errors": errors, "seconds": time.monotonic() - start}


def tcp_sink(args: argparse.Namespace) -> dict[str, Any]:
    server = socket.create_server((args.bind, args.port))
    _print({"ready": True, "port": server.getsockname()[1]})
    server.settimeout(args.lifetime)
    conn, _ = server.accept()
    conn.settimeout(args.lifetime)
    nbytes = 0
    first = None
    end = time.monotonic() + args.lifetime
    while (chunk := conn.recv(1 << 16)) and time.monotonic() < end:
        first = first or time.monotonic()
        nbytes += len(chunk)
    span = time.monotonic() - first if first else 0.0
    return {"bytes": nbytes, "span_s": span}


def tcp_send(args: argparse.Namespace) -> dict[str, Any]:
    sock = socket.create_connection((args.to, args.port), timeout=args.timeout)
    sock.settimeout(args.timeout)
    block = bytes(1 << 16)
    left = args.bytes
    while left > 0:
        sock.sendall(block[: min(left, len(block))])
        left -= min(left, len(block))
    sock.close()
    return {"sent": args.bytes}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("udp-echo", "tcp-echo", "udp-sink", "tcp-sink", "http-whoami"):
        p = sub.add_parser(name)
        p.add_argument("--bind", default="0.0.0.0")  # noqa: S104 - inside a test namespace
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--lifetime", type=float, default=120.0)
        p.add_argument("--gap", type=float, default=1.0)
        p.add_argument("--realtime", action="store_true", help="see realtime_priority")
    for name in ("udp-ping", "tcp-ping", "icmp-ping", "udp-blast", "tcp-send"):
        p = sub.add_parser(name)
        p.add_argument("--to", required=True)
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--count", type=int, default=10)
        p.add_argument("--interval", type=float, default=0.02)
        p.add_argument("--size", type=int, default=64)
        p.add_argument("--timeout", type=float, default=2.0)
        p.add_argument("--pps", type=float, default=1000.0)
        p.add_argument("--seconds", type=float, default=1.0)
        p.add_argument("--bytes", type=int, default=1 << 20)
        p.add_argument("--realtime", action="store_true", help="see realtime_priority")
    args = parser.parse_args(argv)
    # Every loop below is bounded by a count and a deadline; these cap them.
    if getattr(args, "count", 0) > 1_000_000 or getattr(args, "pps", 0) > 1_000_000:
        parser.error("--count and --pps are capped at 1,000,000")
    if max(getattr(args, "seconds", 0), getattr(args, "lifetime", 0)) > 600:
        parser.error("--seconds and --lifetime are capped at 600")
    if args.realtime:
        realtime_priority()
    if args.command == "udp-echo":
        asyncio.run(udp_echo(args))
    elif args.command == "http-whoami":
        http_whoami(args)
    elif args.command == "tcp-echo":
        asyncio.run(tcp_echo(args))
    else:
        handler = {
            "udp-ping": udp_ping,
            "tcp-ping": tcp_ping,
            "icmp-ping": icmp_ping,
            "udp-sink": udp_sink,
            "udp-blast": udp_blast,
            "tcp-sink": tcp_sink,
            "tcp-send": tcp_send,
        }[args.command]
        _print(handler(args))


if __name__ == "__main__":
    main()
