"""coturn for tests: a TURN server inside a test namespace, TURN REST credentials, and a
client that makes an allocation from inside another namespace.

    async with running_turn(topo, "internet", "203.0.113.1", tmp_path) as turn:
        username, password = rest_credential(turn.secret, "session-1", valid_for=300)
        result = await allocate(topo, "home", turn, username, password, transport="tls")
        # {"ok": True, "relayed": "203.0.113.1:5xxxx", "mapped": "203.0.113.34:4xxxx", ...}

The server runs with ``use-auth-secret`` (the TURN REST scheme the broker will mint
credentials for: username ``<expiry>:<id>``, password base64(HMAC-SHA1(secret, username))),
UDP and TCP on 3478 and TLS on 443 with a certificate from a CA made for the run. Its own
config file (0600: the secret stays out of ``ps``) replaces ``/etc/turnserver.conf``, which
Debian's package ships with ``syslog`` set. It may relay only to peers inside the test
ranges (``denied-peer-ip`` everything, ``allowed-peer-ip`` the RFC 5737 ranges), never to
loopback or multicast, so nothing it relays can leave the test's namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import ipaddress
import json
import os
import secrets
import ssl
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioice.stun
import aioice.turn

from certs.authority import create_ca, issue_server_cert
from devkit.netns import NetnsError, Topology
from devkit.topology import ALLOWED_NETWORKS, check_address

REALM = "mamori.test"
SERVER_NAME = "turn.mamori.test"
TURN_PORT = 3478
TLS_PORT = 443
# The variable that hands the client its password (not its command line, which ps shows).
PASSWORD_ENV = "MAMORI_TURN_PASSWORD"  # noqa: S105 - a variable's name, not a password


@dataclass(frozen=True)
class TurnServer:
    """A running coturn: where it listens, its shared secret, its CA and its log."""

    address: str
    secret: str
    ca_file: Path
    log_file: Path
    realm: str = REALM
    port: int = TURN_PORT
    tls_port: int = TLS_PORT

    def urls(self) -> list[str]:
        """ICE server URLs in the order a client should try them (UDP, TCP, TLS 443)."""
        return [
            f"turn:{self.address}:{self.port}?transport=udp",
            f"turn:{self.address}:{self.port}?transport=tcp",
            f"turns:{self.address}:{self.tls_port}?transport=tcp",
        ]

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def rest_credential(
    secret: str, user: str, valid_for: float, now: float | None = None
) -> tuple[str, str]:
    """A TURN REST credential (username ``<expiry>:<user>``, base64 HMAC-SHA1 password)
    valid for ``valid_for`` seconds from ``now``; negative gives an expired one."""
    expiry = int((time.time() if now is None else now) + valid_for)
    username = f"{expiry}:{user}"
    # HMAC-SHA1 is what coturn's use-auth-secret checks (the TURN REST draft): not our pick.
    digest = hmac.new(secret.encode(), username.encode(), "sha1").digest()
    return username, base64.b64encode(digest).decode()


def turn_config(address: str, secret: str, directory: Path, allowed_peers: Sequence[str]) -> str:
    """The turnserver.conf for a test server (see the module docstring)."""
    check_address(address)
    lines = [
        f"listening-ip={address}",
        f"relay-ip={address}",
        f"listening-port={TURN_PORT}",
        f"tls-listening-port={TLS_PORT}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={REALM}",
        f"server-name={SERVER_NAME}",
        f"cert={directory / 'turn-cert.pem'}",
        f"pkey={directory / 'turn-key.pem'}",
        "no-tlsv1",
        "no-tlsv1_1",
        "no-dtls",  # browsers and aiortc use TURN over UDP, TCP or TLS, not DTLS
        "no-tcp-relay",  # RFC 6062 TCP allocations: nothing here uses them
        "no-cli",
        "no-multicast-peers",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "no-software-attribute",
        "fingerprint",
        "stale-nonce=600",
        # Relay only inside the test ranges: deny everything, then allow these.
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        *(f"allowed-peer-ip={_range(net)}" for net in allowed_peers),
        f"log-file={directory / 'turn.log'}",
        "simple-log",
        f"pidfile={directory / 'turn.pid'}",
        f"userdb={directory / 'turndb'}",
    ]
    return "\n".join(lines) + "\n"


def _range(net: str) -> str:
    network = ipaddress.ip_network(net)
    if not any(network.subnet_of(allowed) for allowed in ALLOWED_NETWORKS):  # type: ignore[arg-type]
        raise ValueError(f"{net}: a test TURN server relays inside the documentation ranges only")
    return f"{network.network_address}-{network.broadcast_address}"


@contextlib.asynccontextmanager
async def running_turn(
    topo: Topology,
    role: str,
    address: str,
    directory: Path,
    allowed_peers: Sequence[str] = tuple(str(n) for n in ALLOWED_NETWORKS),
    timeout: float = 10.0,
) -> AsyncIterator[TurnServer]:
    """coturn inside ``role``'s namespace on ``address`` (which must be assigned there),
    stopped when the block ends. Files (config, certificate, log) go under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_ca("Mamori test TURN CA")
    server_cert = issue_server_cert(ca, [address, SERVER_NAME])
    (directory / "turn-ca.pem").write_bytes(ca.cert_pem())
    (directory / "turn-cert.pem").write_bytes(server_cert.cert_pem())
    _write_private(directory / "turn-key.pem", server_cert.key_pem())
    secret = secrets.token_urlsafe(24)
    config = directory / "turnserver.conf"
    _write_private(config, turn_config(address, secret, directory, allowed_peers).encode())
    server = TurnServer(address, secret, directory / "turn-ca.pem", directory / "turn.log")
    # Its stderr (lines such as "socket: Protocol not supported" for SCTP, which these
    # kernels lack) goes beside the log rather than into the test's output.
    with (directory / "turn.stderr").open("wb") as stderr:
        async with topo.process(
            role,
            "turnserver",
            "-c",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        ) as proc:
            await _wait_listening(topo, role, address, proc.process, timeout, server)
            yield server


async def _wait_listening(
    topo: Topology,
    role: str,
    address: str,
    process: asyncio.subprocess.Process,
    timeout: float,
    server: TurnServer,
) -> None:
    wanted = {("udp", TURN_PORT), ("tcp", TURN_PORT), ("tcp", TLS_PORT)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise NetnsError(f"turnserver exited ({process.returncode}): {server.log()[-2000:]}")
        listening = set()
        for line in (await topo.exec(role, "ss", "-Hlntu")).splitlines():
            fields = line.split()
            if len(fields) >= 5 and fields[4].rpartition(":")[0] == address:
                listening.add((fields[0], int(fields[4].rpartition(":")[2])))
        if wanted <= listening:
            return
        await asyncio.sleep(0.05)
    raise NetnsError(f"turnserver not listening within {timeout} s: {server.log()[-2000:]}")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


async def allocate(
    topo: Topology,
    role: str,
    server: TurnServer,
    username: str,
    password: str,
    transport: str = "udp",
    peer: tuple[str, int] | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Make a TURN allocation from inside ``role`` (``transport``: udp, tcp or tls), and
    optionally send a datagram to ``peer`` through it; what happened, as JSON data."""
    port = server.tls_port if transport == "tls" else server.port
    argv = [
        sys.executable,
        "-m",
        "devkit.turn",
        "allocate",
        "--server",
        server.address,
        "--port",
        str(port),
        "--transport",
        transport,
        "--ca",
        str(server.ca_file),
        "--username",
        username,
        "--timeout",
        str(timeout),
    ]
    if peer is not None:
        argv += ["--peer", f"{peer[0]}:{peer[1]}"]
    env = {PASSWORD_ENV: password}
    out = await topo.exec(role, *argv, timeout=timeout * 3 + 10, env=env)
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


async def _allocate(args: argparse.Namespace) -> dict[str, Any]:
    replies: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            replies.put_nowait((data, addr))

        def error_received(self, exc: Exception) -> None:
            errors.put_nowait(exc)

    context = None
    if args.transport == "tls":
        context = ssl.create_default_context(cafile=args.ca)
    result: dict[str, Any] = {"ok": False, "error": None, "error_code": None}
    try:
        transport, _ = await asyncio.wait_for(
            aioice.turn.create_turn_endpoint(
                Receiver,
                (args.server, args.port),
                args.username,
                os.environ[PASSWORD_ENV],
                ssl=context,
                transport="udp" if args.transport == "udp" else "tcp",
            ),
            args.timeout,
        )
    except aioice.stun.TransactionFailed as exc:
        result.update(error="refused", error_code=exc.response.attributes["ERROR-CODE"][0])
        return result
    except (TimeoutError, OSError) as exc:
        result.update(error=type(exc).__name__)
        return result
    relayed = transport.get_extra_info("sockname")
    mapped = transport.get_extra_info("related_address")
    result.update(ok=True, relayed=f"{relayed[0]}:{relayed[1]}", mapped=f"{mapped[0]}:{mapped[1]}")
    if args.peer:
        host, _, port = args.peer.rpartition(":")
        transport.sendto(b"through the relay", (host, int(port)))
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(replies.get()), asyncio.ensure_future(errors.get())],
            timeout=args.timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        result["peer_reply"] = None
        for task in done:
            value = task.result()
            if isinstance(value, tuple):
                result["peer_reply"] = value[0].decode(errors="replace")
            elif isinstance(value, aioice.stun.TransactionFailed):
                result["peer_error_code"] = value.response.attributes["ERROR-CODE"][0]
            else:
                result["peer_error"] = type(value).__name__
    transport.close()
    await asyncio.sleep(0.1)  # let the allocation's deletion go out
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A TURN allocation from this namespace.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("allocate")
    p.add_argument("--server", required=True)
    p.add_argument("--port", type=int, default=TURN_PORT)
    p.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp")
    p.add_argument("--ca")
    p.add_argument("--username", required=True)
    p.add_argument("--peer")
    p.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    check_address(args.server)
    if args.peer:
        check_address(args.peer.rpartition(":")[0])
    sys.stdout.write(json.dumps(asyncio.run(_allocate(args))) + "\n")


if __name__ == "__main__":
    main()
