"""A fleet of real host-agent links for reconnect storms and the benchmark (issue 18).

Each agent is ``host_agent.link.broker_link.BrokerLink``, the agent's own connection loop
(mutual TLS WebSocket, ``agent_hello``, its own backoff and Retry-After handling), without
screen or input: no viewer ever joins. Agents run in worker processes (``python -m
devkit.fleet``), a few hundred per process, so the broker under test shares no event loop or
GIL with its clients.

Certificates: one clinic CA and a client certificate per agent, issued by the real issuing
code (``certs.client_certs.issue_client_cert`` from a CSR made by the agent's key), made once
into a directory that can be reused (a test session's, the benchmark's). ``seed`` writes
them into a broker's database exactly as enrollment would have left them (the CA's key
sealed under that broker's secret key, each certificate on record), without 2,000
enrollments through the API.

A worker prints one JSON line per report interval on stdout, ``{"linked": n, "again": m,
"connections": c}``: links up now, links up now that came up after the last ``mark`` line
the parent wrote to its stdin (a broker restart), and connections made in all. Closing its
stdin stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from broker.agents.ca import CA_DAYS, CA_PURPOSE
from broker.db.models import AgentCertificate, OrganizationCa
from broker.secretbox import SecretBox
from certs.authority import Issued, create_ca
from certs.client_certs import issue_client_cert, make_csr, serial_hex, spki_sha256
from host_agent.link.backoff import Backoff
from host_agent.link.broker_link import BrokerLink, LinkSettings
from host_agent.trust.credentials import IDENTITY_FILE, AgentState
from host_agent.webrtc.peer_session import StreamSettings

REPORT_EVERY_S: Final = 0.5
FLEET_NICENESS: Final = 10
CA_FILE: Final = "fleet-ca.pem"
CA_KEY_FILE: Final = "fleet-ca-key.pem"
# Certificates live a year: a cached fleet outlives any test session or benchmark.
CERT_LIFETIME: Final = dt.timedelta(days=365)


def host_id(index: int) -> str:
    return f"storm-{index:05d}"


@dataclass(frozen=True)
class FleetCerts:
    """One clinic CA and ``size`` agent identities (``<dir>/<host id>/agent.pem``, the
    agent's own file layout), for organization ``org_label`` (the id the certificates name)."""

    directory: Path
    size: int
    org_label: str

    def state(self, index: int) -> AgentState:
        return AgentState(self.directory / host_id(index))

    def ca(self) -> Issued:
        key = serialization.load_pem_private_key(
            (self.directory / CA_KEY_FILE).read_bytes(), password=None
        )
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("the fleet CA key is not ECDSA")
        return Issued(key, x509.load_pem_x509_certificate((self.directory / CA_FILE).read_bytes()))


def make_fleet_certs(directory: Path, size: int, org_id: int) -> FleetCerts:
    """Issue (or reuse, if ``directory`` already holds them) ``size`` agent certificates of
    organization ``org_id``'s clinic CA. About 1 ms an agent."""
    certs = FleetCerts(directory, size, str(org_id))
    marker = directory / f"complete-{size}-{org_id}"
    if marker.exists():
        return certs
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_ca(f"Mamori storm CA {random.getrandbits(32):08x}", CA_DAYS)
    (directory / CA_FILE).write_bytes(ca.cert_pem())
    (directory / CA_KEY_FILE).write_bytes(ca.key_pem())
    now = dt.datetime.now(dt.UTC)
    for index in range(size):
        key = ec.generate_private_key(ec.SECP256R1())
        name = host_id(index)
        cert = issue_client_cert(
            ca, make_csr(key, name), str(org_id), name, now=now, lifetime=CERT_LIFETIME
        )
        identity = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ) + cert.public_bytes(serialization.Encoding.PEM)
        folder = directory / name
        folder.mkdir(exist_ok=True, mode=0o700)
        (folder / IDENTITY_FILE).write_bytes(identity)
    marker.touch()
    return certs


async def seed(session: AsyncSession, certs: FleetCerts, secret_key: bytes) -> None:
    """Record the fleet's CA (its key sealed under ``secret_key``, as ``AgentAuthority``
    seals it) and every certificate, as enrollment would have; the caller commits. The
    organization (id ``certs.org_label``) must exist."""
    org_id = int(certs.org_label)
    ca = certs.ca()
    now = dt.datetime.now(dt.UTC)
    session.add(
        OrganizationCa(
            org_id=org_id,
            cert_pem=ca.cert_pem().decode(),
            key_sealed=SecretBox(secret_key, CA_PURPOSE).seal(ca.key_pem(), f"org-ca:{org_id}"),
            created_at=now,
            not_after=ca.cert.not_valid_after_utc,
        )
    )
    for index in range(certs.size):
        cert = certs.state(index).certificate()
        session.add(
            AgentCertificate(
                org_id=org_id,
                host_id=host_id(index),
                serial=serial_hex(cert.serial_number),
                spki_sha256=spki_sha256(cert.public_key()),
                cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                issued_at=now,
            )
        )
    await session.flush()


# --- the worker process ----------------------------------------------------------------


class _NoInput:
    """No viewer ever joins a storm agent: nothing is injected."""

    def close(self) -> None:
        return None


def _context_once(state: AgentState, server_ca: str) -> Callable[[], ssl.SSLContext]:
    """The agent's own context (``AgentState.ssl_context``), made once per agent rather than
    per connection: the agents' CPU is not what a storm measures, the broker's is."""
    context = state.ssl_context(server_ca)
    return lambda: context


async def _work(certs: FleetCerts, url: str, server_ca: str, first: int, count: int) -> None:
    links: list[BrokerLink] = []
    for index in range(first, first + count):
        name = host_id(index)
        links.append(
            BrokerLink(
                LinkSettings(url, name, name, _context_once(certs.state(index), server_ca)),
                StreamSettings(display=":0"),
                _NoInput(),  # type: ignore[arg-type]
                backoff=Backoff(rng=random.Random(index)),  # noqa: S311 (jitter, not secrets)
            )
        )
    tasks = [asyncio.create_task(link.run()) for link in links]
    marks = [0] * len(links)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def report() -> None:
        while True:
            linked = [link.connected.is_set() for link in links]
            again = sum(
                1 for up, link, mark in zip(linked, links, marks, strict=True)
                if up and link.connections > mark
            )  # fmt: skip
            line = {"linked": sum(linked), "again": again}
            line["connections"] = sum(link.connections for link in links)
            print(json.dumps(line), flush=True)
            await asyncio.sleep(REPORT_EVERY_S)

    reporter = asyncio.create_task(report())
    try:
        while line := await reader.readline():
            if line.strip() == b"mark":
                marks = [link.connections for link in links]
    finally:
        reporter.cancel()
        async with asyncio.timeout(20):
            await asyncio.gather(*(link.stop() for link in links), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.fleet", description=__doc__)
    parser.add_argument("--certs", type=Path, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--url", required=True, help="the agent port, wss://host:port")
    parser.add_argument("--server-ca", required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    # The fleet stands for 2,000 PCs with CPUs of their own: on the broker's cores it runs
    # below the broker's priority, so the storm measures the broker's work, not a contest
    # for CPU between the broker and its own clients (they still take every idle cycle).
    os.nice(FLEET_NICENESS)
    # Every lost link and refusal, with the time (to a file per worker): what a storm is.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    certs = FleetCerts(args.certs, args.size, args.org)
    asyncio.run(_work(certs, args.url, args.server_ca, args.first, args.count))
    return 0


# --- the parent's side -----------------------------------------------------------------


@dataclass
class _Worker:
    process: asyncio.subprocess.Process
    latest: dict[str, int] = field(default_factory=dict)


@dataclass
class Fleet:
    """Running workers and the sum of their latest reports."""

    workers: list[_Worker]
    size: int

    def total(self, key: str) -> int:
        return sum(worker.latest.get(key, 0) for worker in self.workers)

    @property
    def linked(self) -> int:
        return self.total("linked")

    @property
    def again(self) -> int:
        return self.total("again")

    async def mark(self) -> None:
        """From now on ``again`` counts only links made after this call."""
        for worker in self.workers:
            if worker.process.stdin is None:
                raise RuntimeError("a fleet worker without stdin")
            worker.latest["again"] = 0
            worker.process.stdin.write(b"mark\n")
            await worker.process.stdin.drain()

    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self.workers]

    async def wait_until(self, key: str, count: int, timeout_s: float) -> float:
        """Seconds until ``total(key)`` reaches ``count``; TimeoutError (with the count
        reached) past ``timeout_s``."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while self.total(key) < count:
            if loop.time() - start > timeout_s:
                raise TimeoutError(f"{key}: {self.total(key)} of {count} after {timeout_s} s")
            for worker in self.workers:
                if worker.process.returncode is not None:
                    raise RuntimeError(f"a fleet worker exited ({worker.process.returncode})")
            await asyncio.sleep(0.1)
        return loop.time() - start


async def _follow(worker: _Worker) -> None:
    stdout = worker.process.stdout
    if stdout is None:
        raise RuntimeError("a fleet worker without stdout")
    while line := await stdout.readline():
        worker.latest = json.loads(line)


@contextlib.asynccontextmanager
async def running_fleet(
    certs: FleetCerts, agent_url: str, server_ca: Path, workers: int, log_dir: Path
) -> AsyncIterator[Fleet]:
    """``certs.size`` agents in ``workers`` processes dialing ``agent_url``; stopped on exit.
    Each worker's stderr goes to ``log_dir/fleet-<n>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    share = -(-certs.size // workers)
    running: list[_Worker] = []
    followers: list[asyncio.Task[None]] = []
    try:
        for n, first in enumerate(range(0, certs.size, share)):
            with (log_dir / f"fleet-{n}.log").open("wb") as log:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "devkit.fleet",
                    "--certs", str(certs.directory), "--size", str(certs.size),
                    "--org", certs.org_label, "--url", agent_url,
                    "--server-ca", str(server_ca),
                    "--first", str(first), "--count", str(min(share, certs.size - first)),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                )  # fmt: skip
            worker = _Worker(process)
            running.append(worker)
            followers.append(asyncio.create_task(_follow(worker)))
        yield Fleet(running, certs.size)
    finally:
        for worker in running:
            if worker.process.stdin is not None:
                worker.process.stdin.close()
        for worker in running:
            try:
                await asyncio.wait_for(worker.process.wait(), 30)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
        for follower in followers:
            follower.cancel()


if __name__ == "__main__":
    sys.exit(main())
