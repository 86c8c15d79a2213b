"""Two broker replicas (A and B) on one PostgreSQL database and a Redis of the test's own,
sharing the secret key and data folder as replicas behind one load balancer do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certs.authority import ServerFiles
from devkit.broker import RunningBroker, random_secret_key, running_broker
from devkit.databases import free_port, own_redis, postgres_database
from tests.replicas.test_replicas import ROOT


@dataclass
class Pair:
    a: RunningBroker
    b: RunningBroker
    redis_url: str
    secret_key: str


@contextlib.asynccontextmanager
async def replica_pair(
    certs: ServerFiles, directory: Path, **overrides: Any
) -> AsyncIterator[Pair]:
    secret = random_secret_key()
    data = directory / "data"
    data.mkdir()
    with own_redis(directory) as url:
        async with postgres_database() as db_url:
            common: dict[str, Any] = {
                "replicas": True, "redis_url": url, "secret_key": secret, "data_dir": data,
                **overrides,
            }  # fmt: skip
            async with (
                running_broker(certs, db_url, replica_id="broker-a", **common) as a,
                running_broker(certs, db_url, replica_id="broker-b", **common) as b,
            ):
                yield Pair(a, b, url, secret)


@contextlib.asynccontextmanager
async def replica_process(
    pair: Pair, name: str, directory: Path, secret_key: str
) -> AsyncIterator[RunningBroker]:
    """One more replica as its own ``python -m broker serve`` process on the pair's
    database and Redis. The handle's app (database, clock) is A's: the same database."""
    settings = pair.a.settings
    port, agent_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    env |= {
        "MAMORI_ENV": "production", "MAMORI_SECRET_KEY": secret_key,
        "MAMORI_TLS_CERT": str(settings.tls_cert), "MAMORI_TLS_KEY": str(settings.tls_key),
        "MAMORI_DATA_DIR": str(settings.data_dir), "MAMORI_DATABASE_URL": settings.database_url,
        "MAMORI_HOST": "127.0.0.1", "MAMORI_PORT": str(port),
        "MAMORI_AGENT_PORT": str(agent_port), "MAMORI_REPLICAS": "on",
        "MAMORI_REDIS_URL": pair.redis_url, "MAMORI_REPLICA_ID": name,
        "MAMORI_ICE_LOOPBACK": "on",
    }  # fmt: skip
    log = (directory / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"replica {name} did not start: {log.name}")
            await asyncio.sleep(0.1)
        yield RunningBroker(pair.a.app, settings, port, pair.a.certs, agent_port)
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        finally:
            log.close()


async def until(condition: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    """Poll ``condition`` until true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)
