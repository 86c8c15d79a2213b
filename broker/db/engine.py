"""The database: one async engine per broker process, migrated to the newest schema at start.

SQLite (aiosqlite) in the data folder is the embedded default; PostgreSQL (asyncpg) by
``MAMORI_DATABASE_URL``. Alembic's migration environment lives in this package
(``broker/db/migrations``), so an installed broker migrates itself without an alembic.ini.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from broker.errors import MigrationError

# Any constant works; it only has to be the same in every broker replica.
_MIGRATION_LOCK_ID: Final = 0x6D616D6F  # "mamo"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic settings pointing at the migrations inside this package."""
    config = Config()
    config.set_main_option("script_location", "broker.db:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code knows (the history is one line: a test keeps it so)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads, not one: {heads}")
    return heads[0]


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the host-list reads go on while a login writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    # A commit is on disk (WAL fsynced) before it returns: an audit record the broker
    # acknowledged survives a crash or power loss, not only a killed process.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@dataclass(frozen=True)
class PoolLimits:
    """Connections kept, extra ones allowed under load, and how long a request waits for
    one. SQLAlchemy's default wait (30 s) outlasts an agent's handshake timeout (10 s):
    under a reconnect storm the broker kept working for agents that had long given up."""

    size: int = 10
    max_overflow: int = 10
    timeout_s: float = 5.0


class Database:
    """The engine and a session factory for one database URL."""

    def __init__(self, url: str, pool: PoolLimits | None = None) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        file_backed = True
        if self.dialect == "sqlite":
            file_backed = bool(parsed.database) and parsed.database != ":memory:"
            if file_backed and parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        if pool is not None and file_backed:  # an in-memory SQLite has one static connection
            kwargs |= {
                "pool_size": pool.size,
                "max_overflow": pool.max_overflow,
                "pool_timeout": pool.timeout_s,
            }
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A new unit of work; use as ``async with db.session() as s, s.begin(): ...``."""
        return self.sessions()

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent, safe for several replicas)."""
        async with self.engine.connect() as conn:
            sqlite = self.dialect == "sqlite"
            if sqlite:
                # A batch migration rebuilds a SQLite table (copy, drop, rename); with
                # foreign keys on, dropping a table that other rows point at fails, so a
                # clinic's filled database could not be upgraded. SQLite's own procedure
                # for such changes: keys off outside the transaction, then a
                # foreign_key_check before commit (sqlite.org/lang_altertable.html).
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            try:
                async with conn.begin():
                    if self.dialect == "postgresql":
                        # Replicas starting together must not run the same migration twice.
                        await conn.execute(
                            text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
                        )
                    await conn.run_sync(_upgrade)
                    if sqlite:
                        broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                        if broken:
                            raise MigrationError(
                                f"the migration left {len(broken)} rows whose foreign keys "
                                f"point nowhere (first: {tuple(broken[0])}); nothing was changed"
                            )
            finally:
                if sqlite:
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await conn.commit()

    async def current_revision(self) -> str | None:
        """The migration the database is at; None before the first one ran."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def dispose(self) -> None:
        await self.engine.dispose()
