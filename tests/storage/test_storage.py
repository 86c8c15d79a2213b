"""Storage on SQLite and PostgreSQL: migrations, constraints, append-only audit, and the
TOTP replay cache surviving a restart."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from broker.agents import hosts as agents
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.engine import Database, alembic_config
from broker.db.models import AuditEvent, Base
from broker.identity import accounts, mfa, totp
from broker.identity.accounts import Role
from broker.secretbox import SecretBox
from devkit.databases import BACKENDS, database_url

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 3, 0, 10, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.migrate()
    yield database
    await database.dispose()


async def test_migrations_build_exactly_the_models_and_run_twice(db: Database) -> None:
    """The migrated schema equals the models (no autogenerate diff) and migrating again is
    a no-op."""
    await db.migrate()
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
            )
        )
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    assert diff == []
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [version]  # one line of history, and the database is at its head


async def test_times_come_back_as_aware_utc(db: Database) -> None:
    """A time stored from +09:00 reads back as the same instant in UTC on both backends."""
    jst = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    async with db.session() as s:
        org = await accounts.create_org(s, "時刻テスト", jst)
        await s.commit()
        org_id = org.id
    async with db.session() as s:
        again = await accounts.find_org(s, "時刻テスト")
        assert again is not None
        assert again.id == org_id
        assert again.created_at == jst
        assert again.created_at.tzinfo == UTC


async def test_user_names_are_unique_per_organization_only(db: Database) -> None:
    """Two clinics may each have a 'tanaka' (a broker-wide name told one clinic's admin the
    other's names); one clinic cannot have two. Each clinic has its own sign-in code."""
    async with db.session() as s:
        a = await accounts.create_org(s, "A", NOW)
        b = await accounts.create_org(s, "B", NOW)
        assert a.code != b.code
        await accounts.create_user(s, a.id, "tanaka", "田中", Role.DOCTOR, NOW)
        await accounts.create_user(s, b.id, "tanaka", "田中", Role.STAFF, NOW)
        await s.commit()
        with pytest.raises(IntegrityError):
            await accounts.create_user(s, a.id, "tanaka", "田中", Role.STAFF, NOW)


async def test_host_ids_are_unique_per_organization_only(db: Database) -> None:
    """The same host id registers separately in two organizations, once in each."""
    async with db.session() as s:
        a = await accounts.create_org(s, "A", NOW)
        b = await accounts.create_org(s, "B", NOW)
        first = await agents.register_host(s, a.id, "reception", "受付", NOW)
        second = await agents.register_host(s, b.id, "reception", "受付", NOW)
        again = await agents.register_host(s, a.id, "reception", "受付2", NOW)
        await s.commit()
    assert first.id != second.id
    assert again.id == first.id
    assert again.name == "受付2"


async def test_unknown_role_is_refused_by_the_database(db: Database) -> None:
    """The role column only holds admin, doctor, staff or vendor (a CHECK constraint)."""
    async with db.session() as s:
        org = await accounts.create_org(s, "A", NOW)
        user = await accounts.create_user(s, org.id, "sato", "佐藤", Role.STAFF, NOW)
        await s.commit()
        with pytest.raises(IntegrityError):
            await s.execute(
                update(type(user)).where(type(user).id == user.id).values(role="superuser")
            )


async def test_audit_events_are_append_only_in_the_database(db: Database) -> None:
    """The database itself refuses UPDATE and DELETE on audit events."""
    async with db.session() as s:
        record(s, Actor("192.0.2.1", name="tanaka"), Event.LOGIN_PASSWORD, Outcome.FAILURE, NOW)
        await s.commit()
    for statement in (update(AuditEvent).values(outcome="success"), delete(AuditEvent)):
        async with db.session() as s:
            with pytest.raises((DBAPIError, IntegrityError)):
                await s.execute(statement)
                await s.commit()
    async with db.session() as s:
        rows = list(await s.scalars(select(AuditEvent)))
    assert [(r.outcome, r.actor, r.source_address) for r in rows] == [
        ("failure", "tanaka", "192.0.2.1")
    ]


async def test_totp_replay_cache_survives_a_restart(db_url: str) -> None:
    """A code accepted once is refused again by a new process on the same database."""
    box = SecretBox(secrets.token_bytes(32), "totp v1")
    first = Database(db_url)
    await first.migrate()
    async with first.session() as s:
        org = await accounts.create_org(s, "A", NOW)
        user = await accounts.create_user(s, org.id, "suzuki", "鈴木", Role.DOCTOR, NOW)
        secret = await mfa.start_totp(s, box, user, NOW)
        code = totp.code_at_step(secret, totp.step_at(NOW))
        assert await mfa.confirm_totp(s, box, user, code, NOW)
        await s.commit()
        later = NOW + timedelta(seconds=30)
        code = totp.code_at_step(secret, totp.step_at(later))
        assert await mfa.verify_totp(s, box, user, code, later)
        await s.commit()
    await first.dispose()

    restarted = Database(db_url)
    async with restarted.session() as s:
        user = await accounts.find_user(s, "suzuki")
        assert user is not None
        assert not await mfa.verify_totp(s, box, user, code, later)
        following = totp.code_at_step(secret, totp.step_at(later) + 1)
        assert await mfa.verify_totp(s, box, user, following, later)
    await restarted.dispose()


async def test_recovery_codes_are_stored_hashed_and_spent_once(db: Database) -> None:
    """Codes are not in the database as given; each works exactly once."""
    async with db.session() as s:
        org = await accounts.create_org(s, "A", NOW)
        user = await accounts.create_user(s, org.id, "ito", "伊藤", Role.STAFF, NOW)
        codes = await mfa.issue_recovery_codes(s, user.id, NOW)
        await s.commit()
        stored = (await s.execute(text("SELECT code_hash FROM recovery_codes"))).scalars().all()
        assert len(stored) == 10
        assert not any(c.replace("-", "") in h.upper() for c in codes for h in stored)
        assert await mfa.use_recovery_code(s, user.id, codes[3].lower(), NOW)
        assert not await mfa.use_recovery_code(s, user.id, codes[3], NOW)
        assert (await mfa.factors(s, user.id)).recovery_codes_left == 9
