"""The audit chain as stored, on SQLite and PostgreSQL: records link as they are written,
concurrent writers never fork a chain, checkpoints are signed, and every kind of tampering
by someone with database access (triggers dropped first) is named at its first record."""

# The attacker's raw SQL is built from ids and hashes the test has just read.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from broker.audit.chain import GENESIS, link_hash, record_fields, sign_checkpoint
from broker.audit.ledger import AuditSigner, checkpoint_moved_chains
from broker.audit.record import Actor, Event, Outcome, record
from broker.audit.verify import ChainReport, chains, verify_chain_of
from broker.db.engine import Database
from broker.db.models import AuditChainHead, AuditCheckpoint, AuditEvent, Organization
from broker.identity.accounts import new_org_code
from devkit.databases import BACKENDS, database_url
from tests.support.audit import drop_append_only_triggers, signed_database, tamper, write_events

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 21, 3, 0, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(request.param, tmp_path) as url:
        database = signed_database(url, KEY, every=10)
        await database.migrate()
        yield database
        await database.dispose()


async def new_org(db: Database, name: str = "さくら内科") -> int:
    # A bare clinic row: create_org would also seed (and audit) the default grants, and
    # these tests count every record of a chain.
    async with db.session() as s:
        org = Organization(name=name, code=new_org_code(), created_at=START)
        s.add(org)
        await s.commit()
        return org.id


async def verify(db: Database, chain: int) -> ChainReport:
    async with db.session() as s:
        return await verify_chain_of(s, chain, KEY.public_key())


async def stored(db: Database, chain: int) -> list[AuditEvent]:
    async with db.session() as s:
        return list(
            await s.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by("id"))
        )


async def test_records_link_per_organization_and_broker_chain(db: Database) -> None:
    """Each organization's records and the broker-level ones form separate chains from 1;
    every hash covers the previous hash and the stored fields."""
    a, b = await new_org(db, "A"), await new_org(db, "B")
    await write_events(db, a, 3, START)
    await write_events(db, None, 2, START)
    await write_events(db, b, 1, START)
    await write_events(db, a, 1, START + timedelta(minutes=1))
    async with db.session() as s:
        assert await chains(s) == sorted([0, a, b])
        assert await chains(s, a) == [a]
    previous = GENESIS
    for row in await stored(db, a):
        fields = {f: getattr(row, f) for f in ("chain", "sequence", "at", "org_id")}
        assert fields["chain"] == a
        full = record_fields(
            {
                **fields,
                **{
                    f: getattr(row, f)
                    for f in (
                        "actor_user_id",
                        "actor",
                        "event",
                        "outcome",
                        "source_address",
                        "target_user_id",
                        "detail",
                    )
                },
            }
        )
        assert row.prev_hash == previous
        assert row.hash == link_hash(previous, full)
        previous = row.hash
    assert [r.sequence for r in await stored(db, a)] == [1, 2, 3, 4]
    assert [r.sequence for r in await stored(db, 0)] == [1, 2]
    for chain in (0, a, b):
        report = await verify(db, chain)
        assert report.ok, report
    async with db.session() as s:
        head = await s.get(AuditChainHead, a)
        assert head is not None
        assert (head.last_sequence, head.last_hash) == (4, previous)


async def test_two_records_in_one_transaction_link_in_the_order_added(db: Database) -> None:
    """A transaction recording several events (lockout after a failure) chains them in the
    order record() was called, with ids in the same order."""
    org = await new_org(db)
    async with db.session() as s:
        for i in range(5):
            record(s, Actor("192.0.2.1", None, org, f"u{i}"), Event.LOCKOUT, Outcome.SUCCESS, START)
        await s.commit()
    rows = await stored(db, org)
    assert [(r.sequence, r.actor) for r in rows] == [(i + 1, f"u{i}") for i in range(5)]
    assert (await verify(db, org)).ok


async def test_a_record_rolled_back_with_its_action_is_never_written(db: Database) -> None:
    """record() joins the caller's transaction: rolled back (after it was flushed and
    linked), the record and the head's move are gone; the chain has no gap."""
    org = await new_org(db)
    async with db.session() as s:
        await s.execute(select(AuditEvent.id).limit(1))  # a transaction is under way
        record(s, Actor("192.0.2.1", None, org, "gone"), Event.LOCKOUT, Outcome.SUCCESS, START)
        await s.flush()
        await s.rollback()
        record(s, Actor("192.0.2.1", None, org, "kept"), Event.LOCKOUT, Outcome.SUCCESS, START)
        await s.commit()
    assert [(r.sequence, r.actor) for r in await stored(db, org)] == [(1, "kept")]
    assert (await verify(db, org)).ok


async def test_a_record_is_visible_to_the_rest_of_its_transaction(db: Database) -> None:
    """Rules that count what was just recorded (repeated second-factor failures) see it
    before the commit, linked already."""
    org = await new_org(db)
    async with db.session() as s:
        record(s, Actor("192.0.2.1", None, org, "u"), Event.LOGIN_MFA, Outcome.FAILURE, START)
        seen = await s.scalar(select(AuditEvent).where(AuditEvent.org_id == org))
        assert seen is not None
        assert (seen.sequence, len(seen.hash)) == (1, 64)
        await s.commit()


async def test_concurrent_writers_never_fork_a_chain(db: Database) -> None:
    """Twelve transactions at once, each recording into the same organization's chain and
    holding its transaction open a moment: every record gets its own sequence, without gaps,
    and the chain verifies. The writers really overlapped (more than one inside at once)."""
    org = await new_org(db)
    rng = random.Random(7)
    inside = 0
    most_inside = 0

    async def writer(w: int) -> None:
        nonlocal inside, most_inside
        for i in range(10):
            async with db.session() as s:
                inside += 1
                most_inside = max(most_inside, inside)
                record(
                    s,
                    Actor("192.0.2.9", None, org, f"w{w}-{i}"),
                    Event.LOGIN_PASSWORD,
                    Outcome.FAILURE,
                    START,
                )
                await asyncio.sleep(rng.random() / 200)
                await s.flush()  # the head is locked from here to the commit
                await asyncio.sleep(rng.random() / 200)
                if i % 3 == 0:  # a second record in the same transaction, another chain
                    record(
                        s,
                        Actor("192.0.2.9", name=f"w{w}-{i}b"),
                        Event.AGENT_REFUSED,
                        Outcome.DENIED,
                        START,
                    )
                await s.commit()
                inside -= 1

    await asyncio.gather(*(writer(w) for w in range(12)))
    assert most_inside > 1
    rows = await stored(db, org)
    assert sorted(r.sequence for r in rows) == list(range(1, 121))
    assert [r.sequence for r in rows] == sorted(r.sequence for r in rows)  # id order too
    assert len({r.actor for r in rows}) == 120
    broker_rows = await stored(db, 0)
    assert sorted(r.sequence for r in broker_rows) == list(range(1, 12 * 4 + 1))
    for chain in (org, 0):
        report = await verify(db, chain)
        assert report.ok, report
        assert report.records == len(rows if chain == org else broker_rows)


async def test_checkpoints_every_n_records_and_on_the_timer(db: Database) -> None:
    """A checkpoint is signed in-line at every 10th record; the timed pass signs the head of
    each chain that grew since, and nothing when none did."""
    org = await new_org(db)
    await write_events(db, org, 23, START)
    async with db.session() as s:
        signed = list(await s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
    assert [(c.chain, c.sequence, c.kind) for c in signed] == [
        (org, 10, "periodic"),
        (org, 20, "periodic"),
    ]
    signer = AuditSigner(KEY, 10)
    assert await checkpoint_moved_chains(db.sessions, signer, START + timedelta(hours=1)) == 1
    assert await checkpoint_moved_chains(db.sessions, signer, START + timedelta(hours=2)) == 0
    report = await verify(db, org)
    assert report.ok
    assert report.checkpoints == 3
    assert report.last_checkpoint_sequence == 23
    assert report.last_sequence == 23


async def test_the_database_refuses_changes_to_records_and_checkpoints(db: Database) -> None:
    """UPDATE and DELETE of audit records and checkpoints are refused by the database itself
    (and TRUNCATE on PostgreSQL); the chain is intact afterwards."""
    org = await new_org(db)
    await write_events(db, org, 10, START)
    statements = [
        update(AuditEvent).values(detail="x"),
        delete(AuditEvent).where(AuditEvent.sequence == 10),
        update(AuditCheckpoint).values(sequence=1),
        delete(AuditCheckpoint),
    ]
    for statement in statements:
        async with db.session() as s:
            with pytest.raises((DBAPIError, IntegrityError)):
                await s.execute(statement)
    if db.dialect == "postgresql":
        for table in ("audit_events", "audit_checkpoints"):
            async with db.engine.connect() as conn:
                with pytest.raises(DBAPIError, match="append-only"):
                    await conn.execute(text(f"TRUNCATE {table}"))
    assert (await verify(db, org)).ok


async def test_a_duplicate_sequence_cannot_be_stored(db: Database) -> None:
    """The UNIQUE (chain, sequence) constraint: even a writer that skipped the head lock
    could not store a fork."""
    org = await new_org(db)
    await write_events(db, org, 2, START)
    async with db.session() as s:
        s.add(
            AuditEvent(
                chain=org,
                sequence=2,
                prev_hash=GENESIS,
                hash="f" * 64,
                at=START,
                org_id=org,
                actor="x",
                event="x",
                outcome="x",
                source_address="x",
                detail="",
            )
        )
        with pytest.raises(IntegrityError):
            await s.commit()


# ---- tampering: the attacker has the database and drops the triggers first ----


async def tampered(db: Database, org: int, *statements: str) -> ChainReport:
    await drop_append_only_triggers(db)
    await tamper(db, *statements)
    return await verify(db, org)


async def chain_with_events(db: Database, count: int = 25) -> tuple[int, list[AuditEvent]]:
    org = await new_org(db)
    await write_events(db, org, count, START)
    return org, await stored(db, org)


async def test_an_edited_field_is_named(db: Database) -> None:
    """Changing one record's detail names that record (sequence and id)."""
    org, rows = await chain_with_events(db)
    target = rows[6]
    report = await tampered(
        db, org, f"UPDATE audit_events SET outcome = 'success' WHERE id = {target.id}"
    )
    assert report.problem.sequence == 7
    assert report.problem.problem == "edited"
    assert report.problem_id == target.id
    assert report.last_sequence == 6


async def test_an_edited_previous_hash_is_named(db: Database) -> None:
    """A stored previous hash that is not the previous record's hash is an edit too."""
    org, rows = await chain_with_events(db)
    report = await tampered(
        db, org, f"UPDATE audit_events SET prev_hash = '{'a' * 64}' WHERE id = {rows[3].id}"
    )
    assert (report.problem.sequence, report.problem.problem) == (4, "edited")


async def test_a_deleted_record_is_named(db: Database) -> None:
    """Deleting record 12 names record 13, the first after the gap."""
    org, rows = await chain_with_events(db)
    report = await tampered(db, org, f"DELETE FROM audit_events WHERE id = {rows[11].id}")
    assert (report.problem.sequence, report.problem.problem) == (13, "missing_before")
    assert report.problem_id == rows[12].id


async def test_deleting_the_first_records_is_named(db: Database) -> None:
    """Records cut off the start without a signed purge anchor are missed."""
    org, rows = await chain_with_events(db)
    report = await tampered(db, org, f"DELETE FROM audit_events WHERE id <= {rows[4].id}")
    assert (report.problem.sequence, report.problem.problem) == (6, "missing_before")


async def test_swapped_records_are_named(db: Database) -> None:
    """Swapping the places (row ids) of records 8 and 9 names the first out of order."""
    org, rows = await chain_with_events(db)
    a, b = rows[7].id, rows[8].id
    report = await tampered(
        db,
        org,
        f"UPDATE audit_events SET id = -1 WHERE id = {a}",
        f"UPDATE audit_events SET id = {a} WHERE id = {b}",
        f"UPDATE audit_events SET id = {b} WHERE id = -1",
    )
    assert (report.problem.sequence, report.problem.problem) == (9, "missing_before")
    assert report.problem_id == a


async def test_renumbered_records_are_named(db: Database) -> None:
    """Swapping the sequence numbers of records 8 and 9 (fields, not places) names the
    record that claims 9 where 8 belongs."""
    org, rows = await chain_with_events(db)
    a, b = rows[7].id, rows[8].id
    report = await tampered(
        db,
        org,
        f"UPDATE audit_events SET sequence = -1 WHERE id = {a}",
        f"UPDATE audit_events SET sequence = 8 WHERE id = {b}",
        f"UPDATE audit_events SET sequence = 9 WHERE id = {a}",
    )
    assert (report.problem.sequence, report.problem.problem) == (9, "missing_before")
    assert report.problem_id == a


async def test_a_truncated_tail_after_a_checkpoint_is_named(db: Database) -> None:
    """Cutting records 16-25 and moving the head back still leaves the signed checkpoint at
    20: the chain is named truncated from 16."""
    org, rows = await chain_with_events(db)
    report = await tampered(
        db,
        org,
        f"DELETE FROM audit_events WHERE id >= {rows[15].id}",
        f"UPDATE audit_chain_heads SET last_sequence = 15, last_hash = '{rows[14].hash}'",
    )
    assert (report.problem.sequence, report.problem.problem) == (16, "truncated")
    assert report.last_sequence == 15


async def test_a_truncated_tail_with_the_head_left_is_named(db: Database) -> None:
    """Cutting records after the last checkpoint is caught by the chain head."""
    org, rows = await chain_with_events(db)
    report = await tampered(db, org, f"DELETE FROM audit_events WHERE id >= {rows[22].id}")
    assert (report.problem.sequence, report.problem.problem) == (23, "truncated")


async def test_a_rewritten_chain_is_caught_by_its_checkpoint(db: Database) -> None:
    """Editing record 13 and recomputing every hash after it passes the walk, but not the
    signed checkpoint at 20: named there, with the last checkpoint that still held (10)."""
    org, rows = await chain_with_events(db)
    statements = []
    previous = rows[11].hash
    for row in rows[12:]:
        fields = {
            f: getattr(row, f)
            for f in (
                "chain",
                "sequence",
                "at",
                "org_id",
                "actor_user_id",
                "actor",
                "event",
                "outcome",
                "source_address",
                "target_user_id",
                "detail",
            )
        }
        if row.sequence == 13:
            fields["actor"] = "someone-else"
        digest = link_hash(previous, record_fields(fields))
        statements.append(
            f"UPDATE audit_events SET actor = '{fields['actor']}', prev_hash = '{previous}', "
            f"hash = '{digest}' WHERE id = {row.id}"
        )
        previous = digest
    statements.append(f"UPDATE audit_chain_heads SET last_hash = '{previous}'")
    report = await tampered(db, org, *statements)
    assert (report.problem.sequence, report.problem.problem) == (20, "checkpoint_mismatch")
    assert report.rewritten_after == 10


async def test_a_forged_checkpoint_is_named(db: Database) -> None:
    """A checkpoint signed by any other key (here over a truncated chain) is refused."""
    org, rows = await chain_with_events(db)
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 25, rows[24].hash)
    await drop_append_only_triggers(db)
    async with db.session() as s:
        s.add(
            AuditCheckpoint(
                chain=org,
                org_id=org,
                kind="periodic",
                sequence=25,
                hash=rows[24].hash,
                signed_at=START,
                key_id="0" * 64,
                signature=forged,
            )
        )
        await s.commit()
    report = await verify(db, org)
    assert (report.problem.sequence, report.problem.problem) == (25, "bad_checkpoint")


async def test_an_untouched_chain_after_dropping_the_triggers_still_verifies(db: Database) -> None:
    """The tampering tests' control: dropping the triggers alone breaks nothing."""
    org, _ = await chain_with_events(db)
    report = await tampered(db, org, "SELECT 1")
    assert report.ok, report
    assert report.records == 25
