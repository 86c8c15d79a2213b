"""Upgrading a database that predates grants (SQLite and PostgreSQL): each existing clinic
gets the default grants, so a running clinic is not locked out; its zone is Asia/Tokyo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, select, text

from broker.db.engine import Database, alembic_config
from broker.db.models import Grant, Organization
from devkit.databases import BACKENDS, database_url

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(request.param, tmp_path) as url:
        database = Database(url)
        yield database
        await database.dispose()


def upgrade_to(revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return run


async def test_existing_clinics_get_the_default_grants_on_upgrade(db: Database) -> None:
    """Two clinics made under the identity schema come out with admin and doctor grants
    (control, every host, any time) and the default zone."""
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_to("0001"))
        stamp = datetime(2026, 11, 1, tzinfo=UTC)
        value = stamp.replace(tzinfo=None) if db.dialect == "sqlite" else stamp
        for name in ("旧A医院", "旧B医院"):
            await conn.execute(
                text("INSERT INTO organizations (name, created_at) VALUES (:n, :t)"),
                {"n": name, "t": value},
            )
    await db.migrate()
    async with db.session() as s:
        orgs = list(await s.scalars(select(Organization).order_by(Organization.id)))
        assert [o.time_zone for o in orgs] == ["Asia/Tokyo", "Asia/Tokyo"]
        rows = list(await s.scalars(select(Grant).order_by(Grant.org_id, Grant.role)))
    assert [(g.org_id, g.role, g.access, g.host_ref, g.user_id) for g in rows] == [
        (orgs[0].id, "admin", "control", None, None),
        (orgs[0].id, "doctor", "control", None, None),
        (orgs[1].id, "admin", "control", None, None),
        (orgs[1].id, "doctor", "control", None, None),
    ]
    assert all(g.created_by is None and g.revoked_at is None for g in rows)
