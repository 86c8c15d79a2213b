"""Writing the audit chain: every new audit record is linked as its transaction flushes, and
checkpoints are signed every N records and every T minutes.

``audit.record()`` only adds a row to the caller's session; a ``before_flush`` hook on every
ORM session gives each new ``AuditEvent`` its chain, sequence, previous hash and hash just
before the INSERT, in the same transaction. So the link is written, and committed, together
with the action it records, no caller can forget it, and the row is visible to the rest of
the transaction as any added row is (alert rules count the failures just recorded).

Chains: one per organization, plus one (``BROKER_CHAIN``) for broker-level events without an
organization. Per organization because a clinic's auditor verifies and exports the clinic's
own trail without seeing another clinic's records, a purge can follow one clinic's retention,
and on PostgreSQL clinics do not queue behind one another's head lock.

Concurrency: the chain's head row (``audit_chain_heads``) is locked before it is read.
PostgreSQL: ``SELECT ... FOR UPDATE`` holds the row until commit, so a second writer waits
and then reads the head the first one left (READ COMMITTED re-reads the locked row).
SQLite: Python's sqlite3 opens a transaction only at the first write statement, and SQLite
has one writer at a time; so the head is first touched by a write (an upsert that changes
nothing when the head exists), which takes the database's write lock before the read. A
UNIQUE (chain, sequence) constraint stands behind both: a fork could only ever fail, never
be stored. The head stays locked from the flush to the commit, so routes record just
before they commit. On PostgreSQL two transactions of one clinic that lock another row and
the head in opposite orders (the same person's second factor failing in one browser while
it succeeds in another) can deadlock; PostgreSQL then aborts one of them, action and record
together, and that request fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Table, event, func, insert, select, update
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction

from broker.audit import key as audit_key
from broker.audit.chain import (
    CHECKPOINT,
    GENESIS,
    HASHED_FIELDS,
    PURGE_ANCHOR,
    chain_of,
    link_hash,
    record_fields,
    sign_checkpoint,
)
from broker.clock import Clock
from broker.db.models import AuditChainHead, AuditCheckpoint, AuditEvent

log = logging.getLogger(__name__)

HEADS: Final = cast(Table, AuditChainHead.__table__)
CHECKPOINTS: Final = cast(Table, AuditCheckpoint.__table__)
# Where a session finds the signer (``Session.info``); sessions without one link records
# but leave the checkpoints to the broker's periodic pass.
SIGNER_INFO_KEY: Final = "mamori.audit_signer"
PERIODIC: Final = "periodic"
PURGE: Final = "purge"
_MESSAGE_KIND: Final = {PERIODIC: CHECKPOINT, PURGE: PURGE_ANCHOR}


@dataclass(frozen=True)
class AuditSigner:
    """The broker's checkpoint key and how often a chain gets a checkpoint in-line."""

    key: Ed25519PrivateKey
    every: int = 100

    @property
    def key_id(self) -> str:
        return audit_key.key_id(self.key.public_key())

    def checkpoint(
        self, chain: int, org_id: int | None, kind: str, sequence: int, digest: str, at: datetime
    ) -> dict[str, Any]:
        """A signed ``audit_checkpoints`` row for the chain's state at ``sequence``."""
        return {
            "chain": chain,
            "org_id": org_id,
            "kind": kind,
            "sequence": sequence,
            "hash": digest,
            "signed_at": at,
            "key_id": self.key_id,
            "signature": sign_checkpoint(self.key, sequence, digest, _MESSAGE_KIND[kind]),
        }


def attach_signer(sessions: async_sessionmaker[AsyncSession], signer: AuditSigner) -> None:
    """Sessions made by ``sessions`` from now on sign a checkpoint every ``signer.every``."""
    sessions.configure(info={SIGNER_INFO_KEY: signer})


def lock_head(conn: Connection, chain: int, org_id: int | None) -> tuple[int, str]:
    """Lock ``chain``'s head for the rest of the transaction; its (last sequence, last hash).

    A chain's first record creates the head at the genesis. See the module's docstring for
    why the write comes before the read.
    """
    values = {"chain": chain, "org_id": org_id, "last_sequence": 0, "last_hash": GENESIS}
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(HEADS).values(values).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(HEADS).values(values).on_conflict_do_nothing())
    row = conn.execute(
        select(HEADS.c.last_sequence, HEADS.c.last_hash)
        .where(HEADS.c.chain == chain)
        .with_for_update()
    ).one()
    return int(row.last_sequence), str(row.last_hash)


def _link(conn: Connection, records: Sequence[AuditEvent], signer: AuditSigner | None) -> None:
    chain = chain_of(records[0].org_id)
    sequence, previous = lock_head(conn, chain, records[0].org_id)
    for record in records:
        if record.detail is None:
            record.detail = ""  # the column default, set here so the hash covers it
        sequence += 1
        record.chain = chain
        record.sequence = sequence
        record.prev_hash = previous
        record.hash = link_hash(
            previous, record_fields({f: getattr(record, f) for f in HASHED_FIELDS})
        )
        previous = record.hash
        if signer is not None and sequence % signer.every == 0:
            conn.execute(
                insert(CHECKPOINTS).values(
                    signer.checkpoint(chain, record.org_id, PERIODIC, sequence, previous, record.at)
                )
            )
    conn.execute(
        update(HEADS)
        .where(HEADS.c.chain == chain)
        .values(last_sequence=sequence, last_hash=previous)
    )


@event.listens_for(Session, "before_flush")
def _link_new_records(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    """Chain the audit records this flush will insert, in the order they were added."""
    new = [o for o in session.new if isinstance(o, AuditEvent) and o.hash is None]
    if not new:
        return
    new.sort(key=lambda o: orm_inspect(o).insert_order)
    by_chain: dict[int, list[AuditEvent]] = {}
    for record in new:
        by_chain.setdefault(chain_of(record.org_id), []).append(record)
    signer = session.info.get(SIGNER_INFO_KEY)
    conn = session.connection()
    # Always in the same order, so two transactions writing to the same two chains cannot
    # each hold one head and wait for the other.
    for chain in sorted(by_chain):
        _link(conn, by_chain[chain], signer)


async def checkpoint_moved_chains(
    sessions: async_sessionmaker[AsyncSession], signer: AuditSigner, now: datetime
) -> int:
    """Sign a checkpoint at the head of every chain that grew since its last checkpoint
    (the "at most every T minutes" rule; the broker runs it on a timer and at shutdown).
    Returns how many were signed."""
    async with sessions() as s:
        heads = (await s.execute(select(HEADS.c.chain, HEADS.c.last_sequence))).all()
        signed_through = {
            int(chain): int(sequence)
            for chain, sequence in (
                await s.execute(
                    select(CHECKPOINTS.c.chain, func.max(CHECKPOINTS.c.sequence)).group_by(
                        CHECKPOINTS.c.chain
                    )
                )
            ).all()
        }
    signed = 0
    for chain, last_sequence in heads:
        if last_sequence <= signed_through.get(chain, 0):
            continue
        async with sessions() as s:
            conn = await s.connection()
            org_id = await s.scalar(select(HEADS.c.org_id).where(HEADS.c.chain == chain))
            sequence, digest = await conn.run_sync(lock_head, chain, org_id)
            await conn.execute(
                insert(CHECKPOINTS).values(
                    signer.checkpoint(chain, org_id, PERIODIC, sequence, digest, now)
                )
            )
            await s.commit()
        signed += 1
    return signed


async def keep_checkpointing(
    sessions: async_sessionmaker[AsyncSession],
    signer: AuditSigner,
    clock: Clock,
    interval_s: float,
) -> None:
    """Every ``interval_s``, checkpoint the chains that grew; runs until cancelled. A failed
    pass (the database away for a moment) is logged and the next one tries again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await checkpoint_moved_chains(sessions, signer, clock.now())
        except (SQLAlchemyError, OSError):
            log.exception("audit checkpoint pass failed; retrying in %s s", interval_s)
