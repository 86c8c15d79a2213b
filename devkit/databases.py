"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test;
and a Redis server of a test's (or a benchmark's) own, for replicas.

PostgreSQL is expected at 127.0.0.1:5432 with trust authentication (database ``test``).
Where it is absent the ``postgres`` tests are skipped with a plain message, except in CI
(``CI=true``), where they fail: CI must run them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

PG_HOST = os.environ.get("MAMORI_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MAMORI_TEST_PG_PORT", "5432"))
PG_ADMIN_DB = "test"
PG_USERS = ("postgres", "root")


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'mamori.db'}"


async def _admin_connection() -> asyncpg.Connection:
    last: Exception | None = None
    for user in PG_USERS:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=PG_ADMIN_DB, timeout=5
            )
            return conn
        except (OSError, asyncpg.PostgresError) as exc:
            last = exc
    unavailable = f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} ({last})"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{unavailable}: CI must run the postgres tier")
    pytest.skip(f"{unavailable}: the postgres tier did NOT run here")


async def create_postgres_database() -> str:
    """A new, empty database with a random name; returns its asyncpg URL."""
    admin = await _admin_connection()
    try:
        user = admin.get_settings().session_authorization or "postgres"
        name = f"mamori_test_{secrets.token_hex(6)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await admin.close()


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await _admin_connection()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty database (random name), dropped afterwards; yields its asyncpg URL."""
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@contextlib.asynccontextmanager
async def database_url(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield sqlite_url(directory)
    else:
        async with postgres_database() as url:
            yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def own_redis(directory: Path) -> Iterator[str]:
    """A Redis server of this test's own (own port, nothing persisted); its URL. Not the
    machine's shared one on 6379: pub/sub channels are not per database number, so two
    runs of replicas there would hear each other's channels."""
    port = free_port()
    process = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(500):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/3"
    finally:
        process.terminate()
        process.wait(10)
