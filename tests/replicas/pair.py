"""Two broker replicas (A and B) on one PostgreSQL database and a Redis of the test's own,
sharing the secret key and data folder as replicas behind one load balancer do."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certs.authority import ServerFiles
from devkit.broker import RunningBroker, random_secret_key, running_broker
from devkit.databases import postgres_database
from tests.replicas.test_replicas import own_redis


@dataclass
class Pair:
    a: RunningBroker
    b: RunningBroker
    redis_url: str


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
                yield Pair(a, b, url)


async def until(condition: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    """Poll ``condition`` until true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)
