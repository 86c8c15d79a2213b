"""Audit-chain helpers for tests: a database with a checkpoint signer, records written the way
the broker writes them, and an attacker's way around the append-only triggers."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from broker.audit.ledger import AuditSigner, attach_signer
from broker.audit.record import Actor, Event, Outcome, record
from broker.db.engine import Database


def signed_database(url: str, key: Ed25519PrivateKey, every: int = 10) -> Database:
    """A database whose sessions sign a checkpoint every ``every`` records of a chain."""
    db = Database(url)
    attach_signer(db.sessions, AuditSigner(key, every))
    return db


async def write_events(
    db: Database, org_id: int | None, count: int, start: datetime, name: str = "tanaka"
) -> None:
    """``count`` failed sign-ins of ``org_id`` one second apart, one transaction each."""
    for i in range(count):
        async with db.session() as s:
            record(
                s,
                Actor("192.0.2.7", None, org_id, f"{name}-{i}"),
                Event.LOGIN_PASSWORD,
                Outcome.FAILURE,
                start + timedelta(seconds=i),
                detail=f"attempt {i}",
            )
            await s.commit()


async def drop_append_only_triggers(db: Database) -> None:
    """What an attacker with database access does first: the triggers go away."""
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            for table, trigger in (
                ("audit_events", "audit_events_append_only"),
                ("audit_events", "audit_events_no_truncate"),
                ("audit_checkpoints", "audit_checkpoints_append_only"),
            ):
                await conn.execute(text(f"DROP TRIGGER {trigger} ON {table}"))
        else:
            for trigger in (
                "audit_events_no_update",
                "audit_events_no_delete",
                "audit_checkpoints_no_update",
                "audit_checkpoints_no_delete",
            ):
                await conn.execute(text(f"DROP TRIGGER {trigger}"))


async def tamper(db: Database, *statements: str) -> None:
    """Run raw SQL as the attacker (after ``drop_append_only_triggers``)."""
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
