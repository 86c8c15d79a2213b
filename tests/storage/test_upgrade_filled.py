"""Upgrading a clinic's filled database to the newest schema (SQLite and PostgreSQL).

SQLite rebuilds a table to change it; with foreign keys on, the rebuild's drop failed once
other rows pointed at the table (migration 0016 on ``organizations``), so a clinic that had
people could not upgrade. Those rows must come through, and the keys must be on again after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from broker.db.engine import Database, head_revision
from broker.db.models import Organization, User
from devkit.databases import BACKENDS, database_url
from tests.storage.test_grants_migration import upgrade_to

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(request.param, tmp_path) as url:
        database = Database(url)
        yield database
        await database.dispose()


async def test_a_clinic_with_people_upgrades_and_keeps_them(db: Database) -> None:
    """Two clinics with people made under revision 0015 reach the head with every person
    still in their clinic, each clinic given its code, and SQLite's foreign keys on again."""
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_to("0015"))
        stamp = datetime(2026, 11, 1, tzinfo=UTC)
        value = stamp.replace(tzinfo=None) if db.dialect == "sqlite" else stamp
        for org, name in ((1, "旧A医院"), (2, "旧B医院")):
            await conn.execute(
                text("INSERT INTO organizations (id, name, created_at) VALUES (:i, :n, :t)"),
                {"i": org, "n": name, "t": value},
            )
            await conn.execute(
                text(
                    "INSERT INTO users (org_id, username, display_name, role, created_at,"
                    " webauthn_handle) VALUES (:o, :u, :d, 'admin', :t, :h)"
                ),
                {"o": org, "u": f"inchou{org}", "d": "院長", "t": value, "h": bytes([org]) * 16},
            )
    await db.migrate()
    assert await db.current_revision() == head_revision()
    async with db.session() as s:
        orgs = list(await s.scalars(select(Organization).order_by(Organization.id)))
        users = list(await s.scalars(select(User).order_by(User.id)))
    assert [o.code for o in orgs] == ["c1", "c2"]
    assert [(u.org_id, u.username) for u in users] == [(1, "inchou1"), (2, "inchou2")]
    if db.dialect == "sqlite":
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
