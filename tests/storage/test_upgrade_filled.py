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

from broker.access import opening_hours
from broker.db.engine import Database, head_revision
from broker.db.models import Organization, OrgPolicy, User
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


async def test_privacy_screen_choices_survive_and_every_clinic_gets_opening_hours(
    db: Database,
) -> None:
    """0016 -> head: a clinic that saved the privacy screen on keeps it (always), one that
    saved it off keeps off, one that never saved has no row (the broker's default applies);
    each gets the default opening hours, 月〜金 09:00-18:00 and 土 09:00-12:00."""
    async with db.engine.begin() as conn:
        await conn.run_sync(upgrade_to("0016"))
        stamp = datetime(2026, 11, 1, tzinfo=UTC)
        value = stamp.replace(tzinfo=None) if db.dialect == "sqlite" else stamp
        for org in (1, 2, 3):
            await conn.execute(
                text(
                    "INSERT INTO organizations (id, name, code, created_at) VALUES (:i, :n, :c, :t)"
                ),
                {"i": org, "n": f"医院{org}", "c": f"c{org}", "t": value},
            )
        for org, block in ((1, True), (2, False)):
            await conn.execute(
                text(
                    "INSERT INTO org_policies (org_id, idle_s, max_s, warn_s, watermark,"
                    " block_local_input, end_on_violation, text_entry, ice_policy,"
                    " lan_candidates, updated_at)"
                    " VALUES (:o, 600, 28800, 300, :y, :b, :y, 'host_ime', 'all', :y, :t)"
                ),
                {"o": org, "b": block, "y": True, "t": value},
            )
    await db.migrate()
    assert await db.current_revision() == head_revision()
    async with db.session() as s:
        policies = list(await s.scalars(select(OrgPolicy).order_by(OrgPolicy.org_id)))
        hours = {org: await opening_hours.hours_of(s, org) for org in (1, 2, 3)}
    assert [(p.org_id, p.privacy_screen) for p in policies] == [(1, "always"), (2, "off")]
    assert hours == {org: opening_hours.DEFAULT_HOURS for org in (1, 2, 3)}
