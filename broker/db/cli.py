"""``python -m broker db ...``: the configured database's schema, for an operator.

upgrade   migrate the database to the newest schema (the server does this at start too;
          this lets a deployment migrate first, then start its replicas).
current   print the database's schema revision and whether it is the newest; exit 1 if it
          is not (behind, never migrated, or unknown to this broker), so a deploy script
          can check before it starts anything.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from broker.config import Settings
from broker.db.engine import Database, alembic_config, head_revision

EXIT_NOT_AT_HEAD = 1


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``db`` command and its subcommands."""
    db = sub.add_parser("db", help="the database schema: migrate it, or show its revision")
    commands = db.add_subparsers(dest="db_command", required=True)
    commands.add_parser("upgrade", help="migrate the database to the newest schema")
    commands.add_parser("current", help="the database's revision; exit 1 unless the newest")


def _absent_sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names when it does not exist (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


async def upgrade(settings: Settings) -> int:
    """Migrate to the head; prints where the database was and where it is now."""
    db = Database(settings.database_url)
    try:
        before = await db.current_revision()
        await db.migrate()
        after = await db.current_revision()
    finally:
        await db.dispose()
    if before == after:
        print(f"{after} (head): already the newest schema", flush=True)
    else:
        print(f"{after} (head): upgraded from {before or 'an empty database'}", flush=True)
    return 0


async def current(settings: Settings) -> int:
    """Print ``<revision> (<state>)``; exit 0 only when the database is at the head."""
    head = head_revision()
    absent = _absent_sqlite_file(settings.database_url)
    if absent is not None:
        # Only looking must not leave an empty database file behind.
        print(f"none (no database at {absent}; head is {head})", flush=True)
        return EXIT_NOT_AT_HEAD
    db = Database(settings.database_url)
    try:
        revision = await db.current_revision()
    finally:
        await db.dispose()
    if revision == head:
        print(f"{revision} (head)", flush=True)
        return 0
    known = {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision is None:
        state = f"never migrated; head is {head}"
    elif revision in known:
        state = f"behind; head is {head}"
    else:
        # A newer broker migrated it; this one must not run against that schema.
        state = f"unknown to this broker; its head is {head}"
    print(f"{revision or 'none'} ({state})", flush=True)
    return EXIT_NOT_AT_HEAD
