"""``python -m broker db upgrade|current`` as an operator runs it, against a real SQLite file
and a real PostgreSQL database: current says where the schema is and exits 1 unless it is the
newest; upgrade brings it there from empty or from part way, and again is a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text

from broker.db.engine import Database, alembic_config, head_revision
from certs.authority import ServerFiles
from devkit.broker import random_secret_key
from devkit.databases import BACKENDS, database_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HEAD = head_revision()


@dataclass
class Cli:
    env: dict[str, str]
    url: str
    sqlite_file: Path

    async def db(self, subcommand: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "broker",
            "db",
            subcommand,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        assert "Traceback" not in err.decode(), err.decode()
        return process.returncode, out.decode().strip()


@contextlib.asynccontextmanager
async def operator(backend: str, server_certs: ServerFiles, tmp_path: Path) -> AsyncIterator[Cli]:
    """The environment an operator's shell would have for a broker on ``backend``."""
    async with database_url(backend, tmp_path) as url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")},
            "MAMORI_ENV": "production",
            "MAMORI_SECRET_KEY": random_secret_key(),
            "MAMORI_TLS_CERT": str(server_certs.server_cert),
            "MAMORI_TLS_KEY": str(server_certs.server_key),
            "MAMORI_DATABASE_URL": url,
            "MAMORI_DATA_DIR": str(tmp_path / "data"),
        }
        yield Cli(env, url, tmp_path / "mamori.db")


@pytest.fixture(params=BACKENDS)
async def cli(
    request: pytest.FixtureRequest, server_certs: ServerFiles, tmp_path: Path
) -> AsyncIterator[Cli]:
    async with operator(request.param, server_certs, tmp_path) as running:
        yield running


def upgrade_to(revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return run


async def test_upgrade_from_empty_reaches_the_head_and_current_says_so(cli: Cli) -> None:
    """An empty database is not at the head (exit 1); upgrade migrates it; current then
    exits 0; a second upgrade changes nothing."""
    database = Database(cli.url)
    try:
        # Connecting makes the SQLite file: an empty database, as PostgreSQL's is.
        assert await database.current_revision() is None
    finally:
        await database.dispose()
    assert await cli.db("current") == (1, f"none (never migrated; head is {HEAD})")
    assert await cli.db("upgrade") == (0, f"{HEAD} (head): upgraded from an empty database")
    assert await cli.db("current") == (0, f"{HEAD} (head)")
    assert await cli.db("upgrade") == (0, f"{HEAD} (head): already the newest schema")
    database = Database(cli.url)
    try:
        assert await database.current_revision() == HEAD
    finally:
        await database.dispose()


async def test_a_database_part_way_is_behind_until_upgraded(cli: Cli) -> None:
    """A database at 0003 is reported behind (exit 1) and upgrade takes it to the head."""
    database = Database(cli.url)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(upgrade_to("0003"))
    finally:
        await database.dispose()
    assert await cli.db("current") == (1, f"0003 (behind; head is {HEAD})")
    assert await cli.db("upgrade") == (0, f"{HEAD} (head): upgraded from 0003")
    assert await cli.db("current") == (0, f"{HEAD} (head)")


async def test_a_revision_this_broker_does_not_know_is_not_at_head(cli: Cli) -> None:
    """A database a newer broker migrated is named as unknown, exit 1, and left alone."""
    database = Database(cli.url)
    try:
        await database.migrate()
        async with database.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        await database.dispose()
    assert await cli.db("current") == (1, f"9999 (unknown to this broker; its head is {HEAD})")


async def test_current_on_a_missing_sqlite_file_creates_nothing(
    server_certs: ServerFiles, tmp_path: Path
) -> None:
    """Asking about a SQLite file that does not exist exits 1 and does not create it."""
    async with operator("sqlite", server_certs, tmp_path) as cli:
        assert not cli.sqlite_file.exists()
        code, out = await cli.db("current")
        assert (code, out) == (1, f"none (no database at {cli.sqlite_file}; head is {HEAD})")
        assert not cli.sqlite_file.exists()
